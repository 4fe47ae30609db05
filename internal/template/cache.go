package template

import "sync"

// maxCachedBytes bounds the template source a cache holds; past it, the
// cache starts again empty (templates are at most MaxTemplateBytes each).
const maxCachedBytes = 32 << 20

// cache keeps compiled templates by their content, so that sending with a
// template does not parse it again for every message: parsing costs about
// a millisecond per kilobyte of template (raymond's lexer hands each token
// through a channel), rendering microseconds. Keyed by the content itself,
// an updated template is a new entry and can never be served stale.
type cache struct {
	mu    sync.Mutex
	m     map[Content]*Compiled
	bytes int
}

// compile returns c compiled, from the cache when it was compiled before.
// Errors are not cached (content that does not compile is refused at
// Create and Update; inline content is the caller's to fix).
func (k *cache) compile(c Content) (*Compiled, error) {
	k.mu.Lock()
	t, ok := k.m[c]
	k.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := Compile(c)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || k.bytes+c.Size() > maxCachedBytes {
		k.m, k.bytes = map[Content]*Compiled{}, 0
	}
	if _, ok := k.m[c]; !ok {
		k.m[c] = t
		k.bytes += c.Size()
	}
	return t, nil
}

// Compile is [Compile] through the store's cache of compiled stored
// templates: the sending paths call it with a stored template's content.
func (s *Store) Compile(c Content) (*Compiled, error) { return s.cache.compile(c) }

// CompileInline is [Compile] for a send's inline content (v2
// TemplateContent) through a cache of its own, so that a client sending
// many different inline templates flushes only those, never the stored
// templates every account's sends rely on.
func (s *Store) CompileInline(c Content) (*Compiled, error) { return s.inline.compile(c) }
