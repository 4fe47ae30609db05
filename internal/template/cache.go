package template

import (
	"cmp"
	"context"
	"fmt"
	"sync"
)

// maxCachedWeight bounds the memory a cache's compiled templates hold, as
// Compiled.weight estimates it (the source and its parsed tree, which for
// dense tags is fifty times the source); past it, the cache starts again
// empty. A typical 10 KB template weighs well under 100 KB; one of
// MaxInlineTemplateBytes, tags only, about 50 MB.
const maxCachedWeight = 256 << 20

// cache keeps compiled templates by their content, so that sending with a
// template does not parse it again for every message: parsing costs about
// a millisecond per kilobyte of template (raymond's lexer hands each token
// through a channel), rendering microseconds. Keyed by the content itself,
// an updated template is a new entry and can never be served stale.
type cache struct {
	mu     sync.Mutex
	m      map[Content]*Compiled
	weight int // of the entries, Compiled.weight
	max    int // bound of weight; 0: maxCachedWeight (tests lower it)
}

// lookup returns c compiled if it is in the cache.
func (k *cache) lookup(c Content) (*Compiled, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.m[c]
	return t, ok
}

// compile returns c compiled, from the cache when it was compiled before.
// Errors are not cached (content that does not compile is refused at
// Create and Update; inline content is the caller's to fix).
func (k *cache) compile(c Content) (*Compiled, error) {
	if t, ok := k.lookup(c); ok {
		return t, nil
	}
	t, err := Compile(c)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || k.weight+t.weight > cmp.Or(k.max, maxCachedWeight) {
		k.m, k.weight = map[Content]*Compiled{}, 0
	}
	if _, ok := k.m[c]; !ok {
		k.m[c] = t
		k.weight += t.weight
	}
	return t, nil
}

// Compile is [Compile] through the store's cache of compiled stored
// templates: the sending paths call it with a stored template's content.
func (s *Store) Compile(c Content) (*Compiled, error) { return s.cache.compile(c) }

// GetCompiled returns the account's template of that name compiled
// through the store's cache (ErrNotFound when there is none): what a
// templated send and a preview render. A stored template that does not
// compile (it was checked at Create and Update) is an internal failure.
func (s *Store) GetCompiled(ctx context.Context, accountID, name string) (*Compiled, error) {
	t, err := s.Get(ctx, accountID, name)
	if err != nil {
		return nil, err
	}
	c, err := s.cache.compile(t.Content) // compiling a large template costs far more than rendering it
	if err != nil {
		return nil, fmt.Errorf("template: stored template %s does not compile: %w", name, err)
	}
	return c, nil
}

// CompileInline is [Compile] for a send's inline content (v2
// TemplateContent) through a cache of its own, so that a client sending
// many different inline templates flushes only those, never the stored
// templates every account's sends rely on. Parsing costs about a
// millisecond per kilobyte of dense tags and every new inline content is
// parsed before its send is admitted, so at most MaxInlineTemplateBytes
// of inline source is parsed at once (about one core); others wait, until
// ctx ends.
func (s *Store) CompileInline(ctx context.Context, c Content) (*Compiled, error) {
	if t, ok := s.inline.lookup(c); ok {
		return t, nil
	}
	n := max(1, min(int64(c.Size()), MaxInlineTemplateBytes)) // larger content is refused by Compile
	if err := s.parsing.Acquire(ctx, n); err != nil {
		return nil, fmt.Errorf("template: waiting to parse an inline template: %w", err)
	}
	defer s.parsing.Release(n)
	return s.inline.compile(c)
}
