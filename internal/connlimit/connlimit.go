// Package connlimit bounds the connections a TCP server holds, without
// ever leaving a client waiting in the kernel's backlog: at most
// Options.Max connections are open, at most Options.PerAddr from one
// address, and a connection that has sent nothing within
// Options.FirstByte is closed.
//
// A connection over a cap makes room by closing one that does nothing —
// of the same address at the per-address cap, of any address at the
// global cap: the oldest that has not sent a byte yet, else the oldest
// still sending the head of a request (an http.Server has not reported it
// active), else the one idle (between requests) the longest. When every connection in the way is
// busy with a request, the newcomer is closed at once, so its client sees
// a refusal it can retry instead of a silent wait. An attacker holding
// silent connections thus holds nothing anyone else needs.
//
// What makes a connection busy, and idle again, comes from the server: an
// http.Server reports both through Limiter.ConnState (with
// Options.ActiveOnState, a connection is active once the server has read
// a request's whole head: until then one that has sent bytes is only
// started, and may still be closed for room, so trickling half a header
// holds nothing either); for other request/response protocols
// (Options.IdleOnWrite, e.g. DNS over TCP) a read that returns bytes
// makes it busy and a write idle (the answer is out; the server waits for
// the next query).
//
// IPv4 addresses are counted one by one; IPv6 addresses by /64, the
// smallest network a site is given.
//
// Its caller is the composition root, for the API listener and the DNS
// server's TCP listener.
package connlimit

import (
	"container/list"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Limiter.
type Options struct {
	// Max bounds the open connections; it must be at least 1.
	Max int
	// PerAddr bounds the open connections from one address (an IPv6 /64);
	// 0: no per-address bound.
	PerAddr int
	// FirstByte is how long a connection may stay without sending a byte
	// before it is closed; 0: no limit.
	FirstByte time.Duration
	// IdleOnWrite makes a connection idle when the server writes to it,
	// for servers that do not call ConnState (see the package doc).
	IdleOnWrite bool
	// ActiveOnState says the server reports a request's start through
	// ConnState (http.Server: once a request's head is whole): bytes
	// alone then make a connection only started, still closed for room
	// before idle ones. Without it, bytes make a connection busy.
	ActiveOnState bool
	// Logger gets a warning, at most once a minute, while connections are
	// being closed to keep the caps; nil: none.
	Logger *slog.Logger
}

// state is what a connection is doing.
type state int

const (
	stateNew     state = iota // accepted, no byte received yet
	stateStarted              // bytes received, the request's head not yet whole (ConnState servers)
	stateActive               // in a request
	stateIdle                 // between requests
)

// Stats counts what a Limiter did.
type Stats struct {
	Open     int // connections open now
	Busy     int // of which in a request
	Started  int // of which sending a request's head (ActiveOnState)
	Evicted  int // closed to make room for a newcomer
	Refused  int // newcomers closed at once: everything in the way was busy
	TimedOut int // closed for sending nothing within FirstByte
}

// Limiter admits connections. Its methods are safe for concurrent use.
type Limiter struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	addrs    map[netip.Addr]*group
	all      group // every connection; all.n is the open count
	busy     int
	stats    Stats
	lastWarn time.Time
	warned   Stats // stats at the last warning
}

// group is the connections of one address, or all of them: their number
// and, oldest first, those waiting for a first byte, those sending a
// request's head, and those idle.
type group struct {
	n                   int
	fresh, started, idl list.List // of *Conn
}

// victim returns the connection of g to close for room, or nil.
func (g *group) victim() *Conn {
	for _, ls := range []*list.List{&g.fresh, &g.started, &g.idl} {
		if e := ls.Front(); e != nil {
			return e.Value.(*Conn)
		}
	}
	return nil
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	opts.Max = max(opts.Max, 1)
	return &Limiter{opts: opts, log: opts.Logger, addrs: map[netip.Addr]*group{}}
}

// Listener returns ln admitting its connections through l. Accept returns
// only connections admitted; they are *Conn.
func (l *Limiter) Listener(ln net.Listener) net.Listener { return &listener{ln, l} }

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cc := ln.l.admit(c); cc != nil {
			return cc, nil
		}
	}
}

// Conn is an admitted connection. Closing it gives its place back.
type Conn struct {
	net.Conn
	l    *Limiter
	addr netip.Addr

	busy atomic.Bool // state == stateActive, read without l.mu

	// Guarded by l.mu.
	state  state
	gone   bool          // its place is given back
	global *list.Element // in l.all's list of its state
	local  *list.Element // in its address's
	timer  *time.Timer   // FirstByte

	closeOnce sync.Once
	closeErr  error
}

// Read reads from the connection; bytes make it busy, or with
// ActiveOnState started (until the server reports it active).
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.busy.Load() {
		if c.l.opts.ActiveOnState {
			c.l.start(c)
		} else {
			c.l.set(c, stateActive)
		}
	}
	return n, err
}

// Write writes to the connection; with IdleOnWrite, it makes it idle.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.l.opts.IdleOnWrite {
		c.l.set(c, stateIdle)
	}
	return n, err
}

// Close closes the connection and gives its place back.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.l.mu.Lock()
		c.l.drop(c)
		c.l.mu.Unlock()
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

// CloseWrite shuts down the writing side, when the connection can
// (http.Server uses it to close gracefully).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ConnState is for http.Server.ConnState: it follows the server's view of
// each connection of l's listener.
func (l *Limiter) ConnState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*Conn)
	if !ok {
		return
	}
	switch s {
	case http.StateActive:
		l.set(c, stateActive)
	case http.StateIdle:
		l.set(c, stateIdle)
	case http.StateHijacked, http.StateClosed:
		l.mu.Lock()
		l.drop(c)
		l.mu.Unlock()
	}
}

// Stats returns what l did so far.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.Open, st.Busy, st.Started = l.all.n, l.busy, l.all.started.Len()
	return st
}

// admit admits nc, closing others to make room, or closes it.
func (l *Limiter) admit(nc net.Conn) *Conn {
	addr := addrOf(nc.RemoteAddr())
	var victims []*Conn
	l.mu.Lock()
	g := l.addrs[addr]
	if g == nil {
		g = &group{}
		l.addrs[addr] = g
	}
	for _, bound := range []struct {
		g   *group
		max int
	}{{g, l.opts.PerAddr}, {&l.all, l.opts.Max}} {
		if bound.max <= 0 || bound.g.n < bound.max {
			continue
		}
		v := bound.g.victim()
		if v == nil {
			l.stats.Refused++
			if g.n == 0 {
				delete(l.addrs, addr)
			}
			l.warn()
			l.mu.Unlock()
			nc.Close()
			for _, v := range victims {
				v.Close()
			}
			return nil
		}
		l.drop(v)
		l.stats.Evicted++
		victims = append(victims, v)
	}
	c := &Conn{Conn: nc, l: l, addr: addr, state: stateNew}
	l.addrs[addr] = g // again: dropping the address's last one removed it
	l.all.n++
	g.n++
	l.enter(c, g)
	if l.opts.FirstByte > 0 {
		c.timer = time.AfterFunc(l.opts.FirstByte, func() { l.silent(c) })
	}
	if len(victims) > 0 {
		l.warn()
	}
	l.mu.Unlock()
	for _, v := range victims {
		v.Close()
	}
	return c
}

// silent closes c if it has still sent nothing.
func (l *Limiter) silent(c *Conn) {
	l.mu.Lock()
	if c.gone || c.state != stateNew {
		l.mu.Unlock()
		return
	}
	l.drop(c)
	l.stats.TimedOut++
	l.mu.Unlock()
	c.Close()
}

// start moves c from new or idle to started.
func (l *Limiter) start(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.state == stateNew || c.state == stateIdle {
		l.setLocked(c, stateStarted)
	}
}

// set moves c to state s.
func (l *Limiter) set(c *Conn, s state) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setLocked(c, s)
}

// setLocked is set with l.mu held.
func (l *Limiter) setLocked(c *Conn, s state) {
	if c.gone || c.state == s {
		return
	}
	g := l.addrs[c.addr]
	l.leave(c, g)
	c.state = s
	c.busy.Store(s == stateActive)
	l.enter(c, g)
	if s != stateNew && c.timer != nil {
		c.timer.Stop()
	}
}

// enter puts c in the lists of its state; l.mu is held.
func (l *Limiter) enter(c *Conn, g *group) {
	switch c.state {
	case stateNew:
		c.global, c.local = l.all.fresh.PushBack(c), g.fresh.PushBack(c)
	case stateStarted:
		c.global, c.local = l.all.started.PushBack(c), g.started.PushBack(c)
	case stateIdle:
		c.global, c.local = l.all.idl.PushBack(c), g.idl.PushBack(c)
	case stateActive:
		l.busy++
	}
}

// leave takes c out of the lists of its state; l.mu is held.
func (l *Limiter) leave(c *Conn, g *group) {
	switch c.state {
	case stateNew:
		l.all.fresh.Remove(c.global)
		g.fresh.Remove(c.local)
	case stateStarted:
		l.all.started.Remove(c.global)
		g.started.Remove(c.local)
	case stateIdle:
		l.all.idl.Remove(c.global)
		g.idl.Remove(c.local)
	case stateActive:
		l.busy--
	}
	c.global, c.local = nil, nil
}

// drop gives c's place back, once; l.mu is held.
func (l *Limiter) drop(c *Conn) {
	if c.gone {
		return
	}
	c.gone = true
	if c.timer != nil {
		c.timer.Stop()
	}
	g := l.addrs[c.addr]
	l.leave(c, g)
	l.all.n--
	if g.n--; g.n == 0 {
		delete(l.addrs, c.addr)
	}
}

// warn logs, at most once a minute, that connections are being closed to
// keep the caps; l.mu is held.
func (l *Limiter) warn() {
	if l.log == nil || time.Since(l.lastWarn) < time.Minute {
		return
	}
	l.lastWarn = time.Now()
	l.log.Warn("connection caps reached: closing connections that send nothing or wait idle, or refusing new ones",
		"open", l.all.n, "max", l.opts.Max, "max_per_address", l.opts.PerAddr,
		"evicted", l.stats.Evicted-l.warned.Evicted, "refused", l.stats.Refused-l.warned.Refused)
	l.warned = l.stats
}

// addrOf returns the address connections are counted by: an IPv4 address,
// or an IPv6 address's /64.
func addrOf(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	if ta, ok := a.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	} else if p, err := netip.ParseAddrPort(a.String()); err == nil {
		ap = p
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
