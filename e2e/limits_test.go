package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// TestAPILimits is the attack of issue "[4/10] Hardening", defect 1, on a
// real `sesame serve`: many connections declare a 56 MB body, send tens of
// MB and stall — most without a signature, a few with a known access key
// and a wrong signature. The server must stay small (it used to read every
// such body into memory: 400 MB for six of them) and keep serving real
// requests; and an idle keep-alive connection must be closed after
// --api-idle-timeout (it used to stay open for ever).
func TestAPILimits(t *testing.T) {
	if testing.Short() {
		t.Skip("limits test: builds sesame and runs it as a child process; skipped with -short")
	}
	bin := binary(t)
	eachStore(t, func(t *testing.T, st store) {
		zone := customerZone(t)
		setUpAccount(t, bin, st, "-1")
		s := startServer(t, bin, st, serveOptions{apiPort: freePort(t, false), dnsPort: freePort(t, true),
			resolver: zone.Addr(), smtpPort: freePort(t, false), extra: []string{"--api-idle-timeout", idleTimeout.String()}})
		pid := s.cmd.Process.Pid
		t.Logf("at start: VmRSS %d kB", procStatus(pid, "VmRSS"))
		t.Run("idle keep-alive closed", func(t *testing.T) { idleClosed(t, s) })
		t.Run("stalled uploads", func(t *testing.T) { stalledUploads(t, s) })
	})
}

// idleTimeout is the server's --api-idle-timeout in this test.
const idleTimeout = time.Second

// idleClosed sends one signed request on a connection, then waits: the
// server must close the connection once it has been idle idleTimeout.
func idleClosed(t *testing.T, s *server) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := signedRequest(t, s.api, "GET", "/v2/email/account", 0, secretKey, "")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("signed GetAccount: %s, close %v; want 200 on a connection kept alive", resp.Status, resp.Close)
	}
	idle := time.Now()
	_, err = br.ReadByte()
	took := time.Since(idle)
	if err != io.EOF {
		t.Fatalf("idle keep-alive connection after %v: %v, want closed by the server (EOF) after %v", took.Round(time.Millisecond), err, idleTimeout)
	}
	if took < idleTimeout-100*time.Millisecond {
		t.Errorf("idle connection closed after %v, before the idle timeout %v", took, idleTimeout)
	}
	t.Logf("idle keep-alive connection closed by the server after %v", took.Round(time.Millisecond))
}

// stalledUploads opens the attack's connections and checks the server's
// memory and service while they stall.
func stalledUploads(t *testing.T, s *server) {
	const (
		declared = 56_000_000 // 56 MB: under the 56 MiB body limit, so the signature decides
		unsigned = 12         // connections without a signature, sending up to sendUnsigned
		badSig   = 2          // with a known key and a wrong signature, sending sendBadSig
		// Each unsigned connection tries to send this much; the server used
		// to read all of it.
		sendUnsigned = 24 << 20
		// The bad-signature requests carry no X-Amz-Content-Sha256, so their
		// signature can only be checked once the body is in: the server
		// must read them, within its byte budget.
		sendBadSig = 8 << 20
		// maxHWM bounds the server's peak RSS: its working set at start is
		// about 30 MB; what the attack may add is the bad-signature bodies
		// (2 × 8 MiB, in buffers of up to 16 MiB) and the unsigned
		// connections' first bytes. Reading the unsigned bodies would add
		// 12 × 24 MiB.
		maxHWM = 150 << 10 // kB
	)
	pid := s.cmd.Process.Pid
	addr := strings.TrimPrefix(s.api, "http://")
	type attack struct {
		name string
		head []byte // request line and headers
		send int    // body bytes to try to send
		conn net.Conn
		sent int
		err  error // of the first failed write
	}
	var attacks []*attack
	for i := range unsigned {
		head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", addr, declared)
		attacks = append(attacks, &attack{name: fmt.Sprintf("unsigned %d", i), head: []byte(head), send: sendUnsigned})
	}
	for i := range badSig {
		req := signedRequest(t, s.api, "POST", "/", declared, "not-the-secret-key", "")
		attacks = append(attacks, &attack{name: fmt.Sprintf("bad signature %d", i), head: requestHead(t, req), send: sendBadSig})
	}
	// With X-Amz-Content-Sha256 the signature is checked before the body:
	// refused at once, however much it would send.
	req := signedRequest(t, s.api, "POST", "/", declared, "not-the-secret-key", strings.Repeat("ab", 32))
	attacks = append(attacks, &attack{name: "bad signature, content hash", head: requestHead(t, req), send: sendUnsigned})

	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = 'a'
	}
	var wg sync.WaitGroup
	for _, a := range attacks {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		a.conn = c
		defer c.Close()
		wg.Go(func() {
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, a.err = c.Write(a.head); a.err != nil {
				return
			}
			for a.sent < a.send {
				n, err := c.Write(chunk[:min(len(chunk), a.send-a.sent)])
				a.sent += n
				if err != nil {
					a.err = err
					return
				}
			}
			// Then the client stalls, its connection open.
		})
	}
	wg.Wait()

	// Real requests are served meanwhile, signed by the SDK.
	c := v2Client(s.api, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.GetAccount(ctx, &sesv2.GetAccountInput{}); err != nil {
		t.Errorf("GetAccount during the attack: %v", err)
	}
	if _, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("limits.example.test")}); err != nil {
		t.Errorf("CreateEmailIdentity during the attack: %v", err)
	}

	// The refused connections got their answer, or were cut short, and
	// are closed; the bad-signature ones are still being read (stalled).
	var sentRefused, sentBadSig int
	for _, a := range attacks {
		if strings.HasPrefix(a.name, "bad signature ") && !strings.Contains(a.name, "content hash") {
			sentBadSig += a.sent
			if a.err != nil {
				t.Errorf("%s: sending its body failed: %v", a.name, a.err)
			}
			continue
		}
		sentRefused += a.sent
		a.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(a.conn)
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !resp.Close {
				t.Errorf("%s: %s, Connection: close %v; want 403 and close", a.name, resp.Status, resp.Close)
			}
			_, err = br.ReadByte()
		}
		// A reset (the server closed while the client was still writing)
		// may swallow the answer; either way the connection must be gone.
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: still open 5 s after sending %d bytes: the server is holding it", a.name, a.sent)
		}
	}
	hwm, rss := procStatus(pid, "VmHWM"), procStatus(pid, "VmRSS")
	t.Logf("%d connections declared %d bytes each; the refused ones got %d bytes onto the wire in all, the bad-signature ones %d; server VmRSS %d kB, VmHWM %d kB",
		len(attacks), declared, sentRefused, sentBadSig, rss, hwm)
	if hwm < 0 {
		t.Skip("no /proc/<pid>/status: cannot measure the server's memory here")
	}
	if hwm > maxHWM {
		t.Errorf("server peak RSS %d kB during the attack, want under %d kB", hwm, maxHWM)
	}
}

// signedRequest is a request to the server at base signed as the SDK
// signs, with the test account's access key and the given secret (a wrong
// one makes a bad signature), declaring a body of length bytes. A
// contentHash is sent as X-Amz-Content-Sha256 and signed.
func signedRequest(t *testing.T, base, method, path string, length int64, secret, contentHash string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if length > 0 {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	payload := contentHash
	if payload == "" {
		sum := sha256.Sum256(nil)
		payload = hex.EncodeToString(sum[:])
	} else {
		req.Header.Set("X-Amz-Content-Sha256", contentHash)
	}
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payload, "ses", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// requestHead is the request line and headers of req as sent on the wire.
func requestHead(t *testing.T, req *http.Request) []byte {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %s\r\n", req.Method, req.URL.RequestURI(), req.Host, strconv.FormatInt(req.ContentLength, 10))
	if err := req.Header.Write(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}
