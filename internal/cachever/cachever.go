// Package cachever keeps in-memory caches of an account's rows correct
// across nodes. Migration 0015 keeps, per account, a counter per kind of
// cached row (cache_versions), bumped by a database trigger in the same
// transaction as every insert, update or delete of such a row, whoever
// makes it: this process, an admin command or another node. A store reads
// the counters (one indexed read) and uses a cached entry only when it was
// loaded under the counter's current value; otherwise it loads the rows
// again, after reading the counter, so an entry is never older than the
// version it is filed under.
//
// The stores that cache (account, identity, configset, suppression) call
// [Read] behind their existing methods; a caller that makes several
// lookups for one request may wrap its context with [WithMemo] so the
// counters are read once for that request. Callers that write cached
// rows must not look them up again through a memo context taken before
// the write.
package cachever

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/sesame-email/sesame/internal/db"
)

// Kind is a kind of cached row, with its own counter.
type Kind int

// The kinds (columns of cache_versions).
const (
	Account     Kind = iota // accounts and access_keys
	Identity                // identities
	ConfigSet               // configuration_sets
	Suppression             // suppressed_destinations
	numKinds
)

// Tables are the tables whose rows are cached: each must keep the
// triggers of migration 0015 (insert, update and delete) for as long as
// any store caches its rows — a later migration that rebuilds one of
// them must create them again (TestTriggers checks).
var Tables = []string{"accounts", "access_keys", "identities", "configuration_sets", "suppressed_destinations"}

// Versions is an account's counters, indexed by Kind. An account without
// a row has all zeros.
type Versions [numKinds]int64

// Columns is the counter columns in Kind order, for a query that reads
// them with other rows (see [Scan]).
const Columns = `v_account, v_identity, v_configset, v_suppression`

// Dest returns the scan destinations for Columns.
func (v *Versions) Dest() []any {
	return []any{&v[Account], &v[Identity], &v[ConfigSet], &v[Suppression]}
}

// Read returns the account's counters: from the context's memo when one
// holds them (WithMemo), else from the database (and then kept in the
// memo, if any).
func Read(ctx context.Context, q db.Querier, accountID string) (Versions, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m != nil {
		m.mu.Lock()
		v, ok := m.v[accountID]
		m.mu.Unlock()
		if ok {
			return v, nil
		}
	}
	var v Versions
	err := q.QueryRow(ctx, `SELECT `+Columns+` FROM cache_versions WHERE account_id = ?`, accountID).Scan(v.Dest()...)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Versions{}, fmt.Errorf("cachever: read versions of %s: %w", accountID, err)
	}
	if m != nil {
		m.mu.Lock()
		if _, ok := m.v[accountID]; !ok {
			m.v[accountID] = v
		}
		v = m.v[accountID]
		m.mu.Unlock()
	}
	return v, nil
}

type memoKey struct{}

type memo struct {
	mu sync.Mutex
	v  map[string]Versions
}

// WithMemo returns a context under which Read reads each account's
// counters once: for the lookups of one request (a send's account,
// identities, configuration set and suppression checks). A change
// committed while the request runs may then be seen by its next request
// only, as if it had committed a moment later. Do not use it around
// writes to cached rows followed by lookups of them.
func WithMemo(ctx context.Context) context.Context {
	if _, ok := ctx.Value(memoKey{}).(*memo); ok {
		return ctx
	}
	return context.WithValue(ctx, memoKey{}, &memo{v: map[string]Versions{}})
}

// Cache maps keys to values, each filed under the version of its kind it
// was loaded under. It holds at most Max entries: past that it starts
// again empty (entries are cheap to load again; a bound, not an LRU). The
// zero value is not usable; see NewCache.
type Cache[K comparable, V any] struct {
	mu  sync.Mutex
	m   map[K]entry[V]
	max int
}

type entry[V any] struct {
	version int64
	value   V
}

// NewCache returns a cache of at most max entries.
func NewCache[K comparable, V any](max int) *Cache[K, V] {
	return &Cache[K, V]{m: map[K]entry[V]{}, max: max}
}

// Get returns the value filed under k if it was loaded under version.
func (c *Cache[K, V]) Get(k K, version int64) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || e.version != version {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Peek returns the value filed under k and the version it was loaded
// under, for a caller that learns from the value which account's version
// to compare.
func (c *Cache[K, V]) Peek(k K) (V, int64, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	return e.value, e.version, ok
}

// Put files value under k for version, unless a newer version's value is
// there already.
func (c *Cache[K, V]) Put(k K, version int64, value V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && e.version > version {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = entry[V]{version: version, value: value}
}

// Delete removes k's entry, if any: for values, such as secrets, that
// should not stay in memory once they are no longer current.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// Len returns the number of entries (for tests).
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
