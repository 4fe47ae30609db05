package feedback

import (
	"net"
	"sync"
	"time"
)

// limitListener bounds the connections of the feedback MX, which faces
// the Internet: at most max open in all and perIP from one client network
// (an IPv4 /24 or IPv6 /64: clientNetwork), each for at most session in
// all. A connection over a bound is told so (421)
// and closed at once, rather than left waiting unanswered; a session's
// time limit (on real time: network deadlines) holds however often the SMTP server pushes its read and write
// deadlines forward, so a client sending NOOPs cannot hold a slot.
type limitListener struct {
	net.Listener
	max, perIP int
	session    time.Duration

	mu    sync.Mutex
	open  int
	byNet map[string]int
}

func newLimitListener(ln net.Listener, max, perIP int, session time.Duration) *limitListener {
	return &limitListener{Listener: ln, max: max, perIP: perIP, session: session, byNet: map[string]int{}}
}

// Accept returns the next connection within the bounds.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		network := clientNetwork(remoteIP(c))
		l.mu.Lock()
		ok := l.open < l.max && l.byNet[network] < l.perIP
		if ok {
			l.open++
			l.byNet[network]++
		}
		l.mu.Unlock()
		if !ok {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			c.Close()
			continue
		}
		end := time.Now().Add(l.session)
		c.SetDeadline(end)
		return &limitConn{Conn: c, l: l, network: network, end: end}, nil
	}
}

// limitConn is an accepted connection: its deadlines never pass its
// session's end, and closing it frees its slot once.
type limitConn struct {
	net.Conn
	l       *limitListener
	network string
	end     time.Time
	once    sync.Once
}

func (c *limitConn) clamp(t time.Time) time.Time {
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
