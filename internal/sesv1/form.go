package sesv1

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Limits on what the decoder accepts. They bound the work an untrusted
// request can cause; real SES requests stay far below them.
const (
	maxParams      = 20000 // parameters in one request
	maxKeyLength   = 1024  // bytes in one (unescaped) parameter name
	maxMemberIndex = 10000 // largest N in Name.member.N
)

// errMalformed marks a request whose parameters cannot be decoded at all.
var errMalformed = errors.New("malformed query string")

// form is a decoded AWS Query request: parameters arranged as a tree by
// the dots in their names, so that "Message.Subject.Data" is the child
// "Data" of "Subject" of "Message", and a list "Name.member.N" is the
// children of "Name"'s "member" node keyed by N.
type form struct {
	root node
}

// node is one dotted name: its value when the name itself was sent, and
// the longer names below it.
type node struct {
	value    string
	set      bool
	children map[string]*node
}

// decode parses a form-encoded parameter string (a POST body or a query
// string). Pairs are separated by '&'; names and values are
// percent-decoded with '+' as space. When a name occurs twice the first
// value wins. Empty pairs and pairs with an empty name are skipped (but
// must still be well-formed).
func decode(raw string) (*form, error) {
	f := &form{}
	count := 0
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter name %.64q: %w", errMalformed, k, err)
		}
		if len(key) > maxKeyLength {
			return nil, fmt.Errorf("%w: parameter name longer than %d bytes", errMalformed, maxKeyLength)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: value of %.64q: %w", errMalformed, key, err)
		}
		if key == "" {
			continue
		}
		if count++; count > maxParams {
			return nil, fmt.Errorf("%w: more than %d parameters", errMalformed, maxParams)
		}
		f.root.insert(key, val)
	}
	return f, nil
}

// insert stores val under the dotted name key unless a value is already there.
func (n *node) insert(key, val string) {
	for seg := range strings.SplitSeq(key, ".") {
		c := n.children[seg]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*node)
			}
			c = &node{}
			n.children[seg] = c
		}
		n = c
	}
	if !n.set {
		n.value, n.set = val, true
	}
}

// lookup returns the node of a dotted name below n, or nil.
func (n *node) lookup(name string) *node {
	for seg := range strings.SplitSeq(name, ".") {
		if n == nil {
			return nil
		}
		n = n.children[seg]
	}
	return n
}

// get returns the value of a parameter and whether it was sent.
func (f *form) get(name string) (string, bool) {
	n := f.root.lookup(name)
	if n == nil || !n.set {
		return "", false
	}
	return n.value, true
}

// sub returns the structure at a dotted prefix (as a form whose names are
// relative to it), or nil when nothing was sent under it.
func (f *form) sub(prefix string) *form {
	n := f.root.lookup(prefix)
	if n == nil {
		return nil
	}
	return &form{root: *n}
}

// listError is a parameter that is not a well-formed list.
type listError struct {
	name string
	msg  string
}

func (e *listError) Error() string { return fmt.Sprintf("parameter %s: %s", e.name, e.msg) }

// items returns the members of the list parameter name, in the numeric
// order of their indexes (Name.member.1, Name.member.2, …; gaps are
// allowed). An empty list arrives as "Name=" and yields an empty,
// non-nil slice. ok is false when the list was not sent at all.
func (f *form) items(name string) (members []*form, ok bool, err error) {
	n := f.root.lookup(name)
	if n == nil {
		return nil, false, nil
	}
	m := n.children["member"]
	if m == nil {
		if n.set && n.value == "" && len(n.children) == 0 {
			return []*form{}, true, nil
		}
		return nil, true, &listError{name, "expected a list (" + name + ".member.N)"}
	}
	if n.set && n.value != "" {
		return nil, true, &listError{name, "a list must not also have a value"}
	}
	type indexed struct {
		i int
		n *node
	}
	all := make([]indexed, 0, len(m.children))
	for k, c := range m.children {
		i, ok := memberIndex(k)
		if !ok {
			return nil, true, &listError{name, fmt.Sprintf("invalid member index %.32q (expected 1 to %d)", k, maxMemberIndex)}
		}
		all = append(all, indexed{i, c})
	}
	sort.Slice(all, func(a, b int) bool { return all[a].i < all[b].i })
	members = make([]*form, len(all))
	for k, x := range all {
		members[k] = &form{root: *x.n}
	}
	return members, true, nil
}

// stringList returns the list parameter name as strings; see items.
func (f *form) stringList(name string) ([]string, bool, error) {
	members, ok, err := f.items(name)
	if err != nil || !ok {
		return nil, ok, err
	}
	out := make([]string, len(members))
	for k, m := range members {
		if !m.root.set || len(m.root.children) != 0 {
			return nil, true, &listError{name, "list members must be plain values"}
		}
		out[k] = m.root.value
	}
	return out, true, nil
}

// memberIndex parses N of Name.member.N: a decimal integer from 1 to
// maxMemberIndex without leading zeros (so that "1" and "01" cannot both
// name the first member).
func memberIndex(s string) (int, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 1 || i > maxMemberIndex {
		return 0, false
	}
	return i, true
}
