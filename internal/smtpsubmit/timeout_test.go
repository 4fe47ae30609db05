package smtpsubmit_test

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/smtpsubmit"
)

// TestTimeouts: a client that stops talking is hung up on, and nothing
// is submitted: silent between commands after Timeout; silent in the
// middle of its DATA after DataIdle; still trickling its DATA once
// DataTimeout has passed since DATA began.
func TestTimeouts(t *testing.T) {
	f := serve(t, func(o *smtpsubmit.Options) {
		o.Timeout, o.DataIdle, o.DataTimeout = 400*time.Millisecond, time.Second, 3*time.Second
	})
	// open is an authenticated implicit-TLS connection, driven by hand
	// so that the test holds it; with data, it has begun a DATA.
	open := func(data bool) (net.Conn, *textproto.Conn) {
		t.Helper()
		conn, err := tls.Dial("tcp", f.smtps, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		tp := textproto.NewConn(conn)
		if _, _, err := tp.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		type step struct {
			line string
			code int
		}
		steps := []step{{"EHLO client.test", 250}, {"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+keyID+"\x00"+password)), 235}}
		if data {
			steps = append(steps, step{"MAIL FROM:<alice@example.test>", 250}, step{"RCPT TO:<bob@rcpt.test>", 250}, step{"DATA", 354})
		}
		for _, s := range steps {
			if err := tp.PrintfLine("%s", s.line); err != nil {
				t.Fatal(err)
			}
			if code, msg, err := tp.ReadResponse(s.code); err != nil {
				t.Fatalf("%q: %d %s: %v", s.line, code, msg, err)
			}
		}
		return conn, tp
	}
	// hungUp waits for the server to close conn (what it says first is
	// read and dropped) and returns how long that took from start.
	hungUp := func(conn net.Conn, start time.Time) time.Duration {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err := io.Copy(io.Discard, conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the connection is still open after 15 s")
		}
		return time.Since(start)
	}

	t.Run("between commands", func(t *testing.T) {
		conn, _ := open(false)
		if took := hungUp(conn, time.Now()); took < 300*time.Millisecond || took > 5*time.Second {
			t.Errorf("a silent client was hung up on after %v; want about Timeout (400ms)", took)
		}
	})
	t.Run("stalled DATA", func(t *testing.T) {
		conn, tp := open(true)
		if err := tp.PrintfLine("Subject: half a message"); err != nil {
			t.Fatal(err)
		}
		if took := hungUp(conn, time.Now()); took < 800*time.Millisecond || took > 5*time.Second {
			t.Errorf("a stalled DATA was cut off after %v; want about DataIdle (1s)", took)
		}
	})
	t.Run("trickled DATA", func(t *testing.T) {
		conn, tp := open(true)
		start := time.Now()
		// 4 KB/s, a line every 100ms, is a sender that has not stopped
		// (DataIdle); the whole DATA is bounded all the same.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; time.Since(start) < 10*time.Second; i++ {
				if tp.PrintfLine("X-Line-%04d: %s", i, strings.Repeat("x", 386)) != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		took := hungUp(conn, start)
		conn.Close()
		<-done
		if took < 2500*time.Millisecond || took > 8*time.Second {
			t.Errorf("a trickled DATA was cut off after %v; want about DataTimeout (3s)", took)
		}
	})
	if n := len(f.sub.all()); n != 0 {
		t.Errorf("%d messages submitted", n)
	}
}
