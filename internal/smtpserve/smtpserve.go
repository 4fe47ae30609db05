// Package smtpserve holds what Sesame's SMTP servers share around
// emersion/go-smtp: the feedback MX (package feedback) and the submission
// server (package smtpsubmit). It bounds connections (Limit), names a
// client's network (ClientNetwork), bounds the message bytes held in
// memory across connections (Budget), paces a message's DATA
// (IdleReader), routes go-smtp's log to slog (Logger) and runs a go-smtp
// server under a context (Serve).
package smtpserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Serve runs srv on ln until ctx ends or srv fails, then closes srv (its
// listeners and every open connection). A stop by ctx is not an error.
func Serve(ctx context.Context, srv *smtp.Server, ln net.Listener) error {
	var once sync.Once
	stop := func() { once.Do(func() { srv.Close() }) }
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	err := srv.Serve(ln)
	stop()
	if ctx.Err() != nil || errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// ClientNetwork is the network a client address is counted in: its IPv4
// /24 or IPv6 /64 (one sender usually has the whole of either). Anything
// that is not an IP address is its own network.
func ClientNetwork(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.WithZone("").Prefix(bits)
	if err != nil {
		return ip
	}
	return p.String()
}

// RemoteIP is the IP address of c's peer, as text ("" for nil).
func RemoteIP(c net.Conn) string {
	if c == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// IdleReader reads a message's DATA from R, giving each read at most Idle
// (and the whole at most until End) before the connection C's read fails.
// Each read asks R for at most IdleChunk bytes: go-smtp's DATA reader
// returns only once it has filled what it was asked for, so a read of a
// large buffer would have to arrive whole within Idle, and a sender that
// is slow but steady would be cut off as if it had stopped.
type IdleReader struct {
	R    io.Reader
	C    net.Conn // nil: no deadlines
	Idle time.Duration
	End  time.Time
	// TimedOut says a read failed for the deadline: the sender stopped
	// sending, and the caller should hang up rather than wait.
	TimedOut bool
}

// IdleChunk is the most an IdleReader asks for in one read: a sender
// that cannot send that much within Idle is taken for stopped.
const IdleChunk = 1 << 10

func (i *IdleReader) Read(p []byte) (int, error) {
	if len(p) > IdleChunk {
		p = p[:IdleChunk]
	}
	if i.C != nil {
		d := time.Now().Add(i.Idle) // network deadlines are on real time
		if d.After(i.End) {
			d = i.End
		}
		i.C.SetReadDeadline(d)
	}
	n, err := i.R.Read(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		i.TimedOut = true
	}
	return n, err
}

// Failed is a session's answer to a DATA read through i that failed with
// err: go-smtp's own replies as they are (552 for a message over the size
// limit); when the sender stopped sending, conn is closed first, rather
// than left waiting for the rest of a DATA that may never come.
func (i *IdleReader) Failed(err error, conn *smtp.Conn) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	if i.TimedOut {
		conn.Close()
	}
	return err
}

// Logger is go-smtp's Logger on slog: each line a warning tagged with the
// component.
func Logger(l *slog.Logger, component string) smtp.Logger { return slogLogger{l, component} }

type slogLogger struct {
	l         *slog.Logger
	component string
}

func (l slogLogger) Printf(format string, v ...any) {
	l.l.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", l.component)
}

func (l slogLogger) Println(v ...any) {
	l.l.Warn(strings.TrimSpace(fmt.Sprintln(v...)), "component", l.component)
}
