package connlimit_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/connlimit"
	"github.com/sesame-email/sesame/internal/testkit"
)

// serve runs a server behind a Limiter on loopback. A connection's byte
// 'q' is answered "ok" (with IdleOnWrite, the connection is then idle);
// any other byte is not answered (the connection stays busy).
func serve(t *testing.T, opts connlimit.Options) (string, *connlimit.Limiter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := connlimit.New(opts)
	lln := lim.Listener(ln)
	t.Cleanup(func() { lln.Close() })
	go func() {
		for {
			c, err := lln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				for {
					n, err := c.Read(buf)
					if n > 0 && buf[n-1] == 'q' {
						c.Write([]byte("ok"))
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), lim
}

// dial connects to addr from the loopback address from (127.0.0.x).
func dial(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// query sends 'q' on c and reads the answer: c is idle after it (with
// IdleOnWrite).
func query(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		t.Fatalf("no answer: %v", err)
	}
}

// start sends a byte the server does not answer: c is busy after it,
// once the server has read it (wait for Stats().Busy).
func start(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
}

// holds waits until lim holds open connections, busy of them in a request.
func holds(t *testing.T, lim *connlimit.Limiter, open, busy int) {
	t.Helper()
	testkit.WaitFor(t, "the server to see the connections", func() bool {
		st := lim.Stats()
		return st.Open == open && st.Busy == busy
	})
}

// replaces dials a newcomer from from and checks that the server made
// room for it by closing old.
func replaces(t *testing.T, addr, from string, old net.Conn) net.Conn {
	t.Helper()
	c := dial(t, addr, from)
	if !testkit.Closed(old, 5*time.Second) {
		t.Fatal("the connection that should have made room is still open after a newcomer at the cap")
	}
	return c
}

// allBusy makes last busy, so that lim's 3 connections are, and checks
// that a newcomer from from is then closed at once, and that lim evicted
// evicted connections before.
func allBusy(t *testing.T, lim *connlimit.Limiter, addr, from string, evicted int, last net.Conn) {
	t.Helper()
	start(t, last)
	holds(t, lim, 3, 3)
	begin := time.Now()
	if !testkit.Closed(dial(t, addr, from), 5*time.Second) {
		t.Fatal("a newcomer with every connection in its way busy was left open")
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("newcomer refused after %v, want at once", took)
	}
	if st := lim.Stats(); st.Evicted != evicted || st.Refused != 1 || st.Open != 3 {
		t.Errorf("stats %+v, want %d evicted, 1 refused, 3 open", st, evicted)
	}
}

// TestPerAddress: at its address's cap, a newcomer closes the oldest
// connection of its address that has sent nothing, and other addresses
// keep theirs; with the address's connections all busy, a newcomer is
// closed at once.
func TestPerAddress(t *testing.T) {
	addr, lim := serve(t, connlimit.Options{Max: 100, PerAddr: 2})
	other := dial(t, addr, "127.0.0.3")
	first, second := dial(t, addr, "127.0.0.2"), dial(t, addr, "127.0.0.2")
	holds(t, lim, 3, 0)
	third := replaces(t, addr, "127.0.0.2", first)
	start(t, second)
	start(t, third)
	allBusy(t, lim, addr, "127.0.0.2", 1, other)
}

// TestGlobalCap: at the global cap a newcomer closes the oldest silent
// connection of any address; silent ones go before idle ones (even older
// ones), idle ones before busy ones, which are never closed: with all
// busy, the newcomer is closed at once.
func TestGlobalCap(t *testing.T) {
	addr, lim := serve(t, connlimit.Options{Max: 3, IdleOnWrite: true})
	idle := dial(t, addr, "127.0.0.2")
	query(t, idle)
	silent := dial(t, addr, "127.0.0.3")
	busy := dial(t, addr, "127.0.0.4")
	start(t, busy)
	holds(t, lim, 3, 1)

	c4 := replaces(t, addr, "127.0.0.5", silent)
	start(t, c4)
	holds(t, lim, 3, 2)
	c5 := replaces(t, addr, "127.0.0.6", idle) // no silent one left
	allBusy(t, lim, addr, "127.0.0.7", 2, c5)
}

// TestFirstByte: a connection that sends nothing within FirstByte is
// closed; one that sends a byte in time stays.
func TestFirstByte(t *testing.T) {
	const firstByte = 50 * time.Millisecond
	addr, lim := serve(t, connlimit.Options{Max: 10, FirstByte: firstByte, IdleOnWrite: true})
	begin := time.Now()
	silent := dial(t, addr, "127.0.0.1")
	talker := dial(t, addr, "127.0.0.1")
	query(t, talker)
	if !testkit.Closed(silent, 5*time.Second) {
		t.Fatal("a silent connection is open after FirstByte")
	}
	if took := time.Since(begin); took < firstByte {
		t.Errorf("silent connection closed after %v, before %v", took, firstByte)
	}
	query(t, talker) // still served, idle meanwhile
	if st := lim.Stats(); st.TimedOut != 1 || st.Open != 1 {
		t.Errorf("stats %+v, want 1 timed out, the talker open", st)
	}
}

// TestHTTPConnState: behind an http.Server reporting ConnState, silent
// connections holding the cap do not keep requests out, and a kept-alive
// connection between requests is idle, not busy.
func TestHTTPConnState(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := connlimit.New(connlimit.Options{Max: 2, PerAddr: 2})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: lim.ConnState}
	go srv.Serve(lim.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	dial(t, addr, "127.0.0.1")
	dial(t, addr, "127.0.0.1")
	holds(t, lim, 2, 0)
	client := &http.Client{Timeout: 2 * time.Second}
	for range 3 { // one kept-alive connection, reused
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("GET with the cap held by silent connections: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	holds(t, lim, 2, 0) // the client's connection idle, a silent one
	if st := lim.Stats(); st.Evicted != 1 || st.Refused != 0 {
		t.Errorf("stats %+v, want 1 evicted", st)
	}
}

// TestOnePerAddress: with PerAddr 1, each newcomer replaces its address's
// silent connection, and the one left is followed as any other.
func TestOnePerAddress(t *testing.T) {
	addr, lim := serve(t, connlimit.Options{Max: 10, PerAddr: 1, IdleOnWrite: true})
	first := dial(t, addr, "127.0.0.2")
	holds(t, lim, 1, 0)
	second := replaces(t, addr, "127.0.0.2", first)
	query(t, second)
	start(t, second)
	holds(t, lim, 1, 1)
	second.Close()
	holds(t, lim, 0, 0)
}

// TestHTTPPartialHead: behind an http.Server, a connection that has sent
// only part of a request's head is not busy: at the cap it is closed to
// make room (after silent ones, before idle ones), so trickling half a
// header holds nothing anyone else needs. A connection whose request is
// in its handler is busy and kept. (Bytes used to make a connection busy
// at once: 1,024 half-headers from 8 addresses shut every newcomer out.)
func TestHTTPPartialHead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := connlimit.New(connlimit.Options{Max: 2, PerAddr: 2, ActiveOnState: true})
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "ok")
	}), ConnState: lim.ConnState}
	go srv.Serve(lim.Listener(ln))
	t.Cleanup(func() { close(release); srv.Close() })
	addr := ln.Addr().String()

	inHandler := dial(t, addr, "127.0.0.1")
	if _, err := io.WriteString(inHandler, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	holds(t, lim, 1, 1)
	half := dial(t, addr, "127.0.0.1")
	if _, err := io.WriteString(half, "POST / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the half head to be read", func() bool { st := lim.Stats(); return st.Open == 2 && st.Started == 1 })

	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET with the cap held by a request in its handler and a half-sent head: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !testkit.Closed(half, 5*time.Second) {
		t.Fatal("the half-sent head was kept; the newcomer should have taken its place")
	}
	// The GET's connection turns idle once the server is done with it.
	testkit.WaitFor(t, "the newcomer's request to end", func() bool { return lim.Stats().Busy == 1 })
	if st := lim.Stats(); st.Evicted != 1 || st.Refused != 0 || st.Busy != 1 {
		t.Errorf("stats %+v, want 1 evicted, none refused, the handler's connection busy", st)
	}
}
