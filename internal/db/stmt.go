package db

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
)

// The statement cache's bounds. The set of query texts Sesame runs is
// finite except for lists built per call (IN (?, ?, ...)), one text per
// length; texts beyond these bounds, and any once the cache is full, run
// unprepared as before. The cache never evicts: a statement another
// goroutine is about to run is never closed under it, and the hot texts,
// run from the first requests on, are in long before it fills.
const (
	stmtCacheMax        = 512
	stmtMaxPlaceholders = 64
	stmtMaxLen          = 8 << 10
)

// stmtCache keeps one prepared statement per query text (after
// placeholder rebinding) on a pool, so a statement is parsed and compiled
// once per connection instead of at each run: database/sql prepares a
// Stmt lazily on each connection that runs it and keeps it there, and
// Tx.StmtContext reuses the one already prepared on the transaction's
// connection.
type stmtCache struct {
	db       *sql.DB
	mu       sync.Mutex
	m        map[string]*sql.Stmt
	closed   bool
	prepares atomic.Int64 // statements prepared on the pool (a test counter)
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// cacheable reports whether query may be kept: a data statement (DDL and
// pragmas run once) within the size bounds. Only SQLite has caches, so
// placeholders are ?.
func cacheable(query string) bool {
	if len(query) > stmtMaxLen || strings.Count(query, "?") > stmtMaxPlaceholders {
		return false
	}
	for _, kw := range [...]string{"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"} {
		if hasKeyword(query, kw) {
			return true
		}
	}
	return false
}

// hasKeyword reports whether query starts with the keyword kw (any case),
// after blanks and opening parentheses.
func hasKeyword(query, kw string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	return len(q) >= len(kw) && strings.EqualFold(q[:len(kw)], kw) &&
		(len(q) == len(kw) || !isWordByte(q[len(kw)]))
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// lookup returns the cached statement for query, or nil.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	s := c.m[query]
	c.mu.Unlock()
	return s
}

// get returns the statement for query, prepared now if it is not cached
// yet, or nil when query is not to be cached or cannot be prepared (the
// caller then runs it unprepared, which reports any error in the query
// itself). It takes a connection from the pool to prepare: callers holding
// the pool's only connection (a transaction on SQLite's writer) use lookup
// and add the text later.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	s, full := c.m[query], len(c.m) >= stmtCacheMax || c.closed
	c.mu.Unlock()
	if s != nil || full || !cacheable(query) {
		return s
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.prepares.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil { // prepared by another goroutine meanwhile
		s.Close()
		return old
	}
	if c.closed || len(c.m) >= stmtCacheMax {
		s.Close()
		return nil
	}
	c.m[query] = s
	return s
}

// close closes every cached statement; later gets prepare nothing.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for q, s := range c.m {
		s.Close()
		delete(c.m, q)
	}
}

// len returns the number of cached statements.
func (c *stmtCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
