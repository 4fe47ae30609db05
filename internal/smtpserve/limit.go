package smtpserve

import (
	"net"
	"sync"
	"time"
)

// Limits bound the connections of an SMTP listener.
type Limits struct {
	// Max bounds the open connections in all, PerNetwork those from one
	// client network (ClientNetwork). Both must be at least 1.
	Max, PerNetwork int
	// Session bounds a connection's whole life (on real time: network
	// deadlines), however often the SMTP server pushes its read and write
	// deadlines forward, so a client sending NOOPs cannot hold a slot for
	// ever; 0: no bound.
	Session time.Duration
	// Refuse, when not nil, is asked about each new connection's client
	// IP: a non-empty answer is a reply line (such as "421 4.7.0 ...")
	// the connection gets before it is closed, without counting.
	Refuse func(ip string) string
	// Quiet refuses by closing the connection without writing anything:
	// for a listener whose clients speak first (implicit TLS, where the
	// client expects a ServerHello and would take a plaintext "421" for
	// a broken handshake).
	Quiet bool
}

// TooMany is the reply to a connection over a bound.
const TooMany = "421 4.7.0 Too many connections, try again later"

// Limit returns ln bounded by lim: a connection over a bound is told so
// (TooMany; nothing with lim.Quiet) and closed at once, rather than left
// waiting unanswered.
func Limit(ln net.Listener, lim Limits) net.Listener {
	return &limitListener{Listener: ln, lim: lim, byNet: map[string]int{}}
}

type limitListener struct {
	net.Listener
	lim Limits

	mu    sync.Mutex
	open  int
	byNet map[string]int
}

// Accept returns the next connection within the bounds.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := RemoteIP(c)
		if l.lim.Refuse != nil {
			if reply := l.lim.Refuse(ip); reply != "" {
				l.refuse(c, reply)
				continue
			}
		}
		network := ClientNetwork(ip)
		l.mu.Lock()
		ok := l.open < l.lim.Max && l.byNet[network] < l.lim.PerNetwork
		if ok {
			l.open++
			l.byNet[network]++
		}
		l.mu.Unlock()
		if !ok {
			l.refuse(c, TooMany)
			continue
		}
		lc := &limitConn{Conn: c, l: l, network: network}
		if l.lim.Session > 0 {
			lc.end = time.Now().Add(l.lim.Session)
			c.SetDeadline(lc.end)
		}
		return lc, nil
	}
}

// refuse tells c why (unless l is quiet) and closes it, without waiting
// long on a client that does not read.
func (l *limitListener) refuse(c net.Conn, reply string) {
	if l.lim.Quiet {
		c.Close()
		return
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(reply + "\r\n"))
	c.Close()
}

// limitConn is an accepted connection: its deadlines never pass its
// session's end, and closing it frees its slot once.
type limitConn struct {
	net.Conn
	l       *limitListener
	network string
	end     time.Time // zero: no session bound
	once    sync.Once
}

func (c *limitConn) clamp(t time.Time) time.Time {
	if c.end.IsZero() {
		return t
	}
	if t.IsZero() || t.After(c.end) {
		return c.end
	}
	return t
}

func (c *limitConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *limitConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *limitConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }

func (c *limitConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		if c.l.byNet[c.network]--; c.l.byNet[c.network] <= 0 {
			delete(c.l.byNet, c.network)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
