package sns

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Limits on what the decoder accepts: they bound the work an untrusted
// request causes, far above what real SNS requests send.
const (
	maxParams      = 2000 // parameters in one request
	maxMemberIndex = 1000 // largest N in Name.entry.N / Name.member.N
)

// params are a request's decoded Query parameters (first value wins).
type params map[string]string

// parseParams decodes a form-encoded parameter string.
func parseParams(raw string) (params, error) {
	p := params{}
	n := 0
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if n++; n > maxParams {
			return nil, fmt.Errorf("more than %d parameters", maxParams)
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("parameter name %.64q is not form-encoded", k)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("the value of %.64q is not form-encoded", key)
		}
		if _, ok := p[key]; !ok && key != "" {
			p[key] = val
		}
	}
	return p, nil
}

// members collects the parameters prefix.N.<sub> by N (1-based, sorted).
// A malformed or out-of-range N is an error naming name.
func (p params) members(prefix, name string) (map[int]map[string]string, []int, error) {
	out := map[int]map[string]string{}
	for k, v := range p {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		num, sub, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > maxMemberIndex || strconv.Itoa(n) != num {
			return nil, nil, fmt.Errorf("Invalid parameter: %s Reason: %.64q is not %sN with N from 1 to %d", name, k, prefix, maxMemberIndex)
		}
		if out[n] == nil {
			out[n] = map[string]string{}
		}
		out[n][sub] = v
	}
	idx := make([]int, 0, len(out))
	for n := range out {
		idx = append(idx, n)
	}
	sort.Ints(idx)
	return out, idx, nil
}

// attributeMap reads a map parameter Name.entry.N.key / .value. A key
// without a value (or the reverse), or a key given twice, is an error.
// It returns nil when no entry was sent.
func (p params) attributeMap(name string) (map[string]string, error) {
	ms, idx, err := p.members(name+".entry.", name)
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	out := make(map[string]string, len(idx))
	for _, n := range idx {
		e := ms[n]
		k, okK := e["key"]
		v, okV := e["value"]
		if !okK || !okV || len(e) != 2 || k == "" {
			return nil, fmt.Errorf("Invalid parameter: %s Reason: entry %d must have a non-empty key and a value", name, n)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("Invalid parameter: %s Reason: the key %.64q is given twice", name, k)
		}
		out[k] = v
	}
	return out, nil
}

// tags reads Tags.member.N.Key / .Value, in order.
func (p params) tags(name string) ([]Tag, error) {
	ms, idx, err := p.members(name+".member.", name)
	if err != nil {
		return nil, err
	}
	var out []Tag
	seen := map[string]bool{}
	for _, n := range idx {
		e := ms[n]
		k, okK := e["Key"]
		v, okV := e["Value"]
		if !okK || !okV || len(e) != 2 {
			return nil, fmt.Errorf("Invalid parameter: %s Reason: member %d must have a Key and a Value", name, n)
		}
		if seen[k] {
			return nil, fmt.Errorf("Invalid parameter: %s Reason: duplicate tag key %.64q", name, k)
		}
		seen[k] = true
		out = append(out, Tag{k, v})
	}
	return out, nil
}

// list reads Name.member.N, in order.
func (p params) list(name string) ([]string, error) {
	ms, idx, err := p.members(name+".member.", name)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(idx))
	for _, n := range idx {
		v, ok := ms[n][""]
		if !ok || len(ms[n]) != 1 {
			return nil, fmt.Errorf("Invalid parameter: %s Reason: member %d is not a string", name, n)
		}
		out = append(out, v)
	}
	return out, nil
}

// hasPrefix reports whether any parameter starts with prefix.
func (p params) hasPrefix(prefix string) bool {
	for k := range p {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// parseStructure reads a Publish message with MessageStructure=json: a
// JSON object of strings, with a "default" member, whose other members
// name protocols.
func parseStructure(msg string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(msg), &m); err != nil || m == nil {
		return nil, fmt.Errorf("Invalid parameter: Message Structure - JSON message body failed to parse")
	}
	if _, ok := m["default"]; !ok {
		return nil, fmt.Errorf("Invalid parameter: Message Structure - No default entry in JSON message body")
	}
	return m, nil
}
