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
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesame-email/sesame/internal/testkit"
)

// TestAPILimits is the attack of issue "[4/10] Hardening", defect 1, and
// of its review, on a real `sesame serve`: many connections declare a
// 56 MB body, send tens of MB and stall — most without a signature, a few
// with a known access key and a wrong signature. The server must stay
// small (it used to read every such body into memory: 400 MB for six of
// them), hold memory close to the bytes it received (it used to double
// buffers: 372 MB for 221 MB), keep serving real requests — another
// tenant's too while one tenant's key id declares the whole body budget
// and sends nothing (throttled after 58 s before), and with thousands of
// silent connections open (26-30 s before); and an idle keep-alive
// connection must be closed after --api-idle-timeout.
func TestAPILimits(t *testing.T) {
	if testing.Short() {
		t.Skip("limits test: builds sesame and runs it as a child process; skipped with -short")
	}
	bin := binary(t)
	eachStore(t, func(t *testing.T, st store) {
		zone := customerZone(t)
		setUpAccount(t, bin, st, "-1")
		admin(t, bin, st, "account", "create", "--name", "other", "--access-key-id", otherKey, "--secret-access-key", otherSecret)
		s := startServer(t, bin, st, serveOptions{apiPort: freePort(t, false), dnsPort: freePort(t, true),
			resolver: zone.Addr(), smtpPort: freePort(t, false), extra: []string{"--api-idle-timeout", idleTimeout.String()}})
		pid := s.cmd.Process.Pid
		t.Logf("at start: VmRSS %d kB", procStatus(pid, "VmRSS"))
		t.Run("held memory tracks bytes received", func(t *testing.T) { heldMemory(t, s) })
		t.Run("one tenant's stalled requests", func(t *testing.T) { starvation(t, s) })
		t.Run("stalled uploads", func(t *testing.T) { stalledUploads(t, s) })
		t.Run("silent connections", func(t *testing.T) { silentFlood(t, s) })
		t.Run("idle keep-alive closed", func(t *testing.T) { idleClosed(t, s) })
	})
}

// The second tenant's access key.
const (
	otherKey    = "AKIAE2EOTHERKEY000002"
	otherSecret = "e2eOtherSecretKey/0123456789abcdefghijkl"
)

// clientsOf are SES v1 and v2 clients at url with the given key, each on
// connections of its own, that never retry.
func clientsOf(url, key, secret string) (*ses.Client, *sesv2.Client) {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), RetryMaxAttempts: 1}
	return ses.NewFromConfig(cfg, func(o *ses.Options) { o.BaseEndpoint = aws.String(url) }),
		sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(url) })
}

// resetPeak resets the process's VmHWM to its VmRSS (Linux's clear_refs)
// and returns that, or -1 when it cannot.
func resetPeak(t *testing.T, pid int) int64 {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak RSS: %v", err)
		return -1
	}
	return procStatus(pid, "VmRSS")
}

// openStalled opens a connection to the server, sends head and then up to
// send bytes of body, and leaves the connection open, stalled. It returns
// the connection and the bytes it could send within 20 seconds.
func openStalled(t *testing.T, s *server, head []byte, send int) (net.Conn, int, error) {
	c, err := net.Dial("tcp", strings.TrimPrefix(s.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(head); err != nil {
		return c, 0, err
	}
	sent := 0
	for sent < send {
		n, err := c.Write(onesMiB[:min(len(onesMiB), send-sent)])
		sent += n
		if err != nil {
			return c, sent, err
		}
	}
	return c, sent, nil
}

var onesMiB = []byte(strings.Repeat("a", 1<<20))

// heldMemory: two tenants' uploads with a wrong signature (known key id,
// no X-Amz-Content-Sha256: the server must read them to find out) send
// 40 MB of a declared 56 MB and stall. The server's peak RSS may grow by
// what it received and little more (it used to double its buffers: a
// 40 MB body took a 56 MB buffer, and 32 MiB more while copying).
func heldMemory(t *testing.T, s *server) {
	const (
		declared = 56_000_000
		send     = 40_000_000
		uploads  = 4                         // two per tenant: under a tenant's share (2 x 56 MiB)
		slack    = 48 << 10                  // kB: whatever else serving them takes
		bound    = uploads*send/1024 + slack // kB
	)
	pid := s.cmd.Process.Pid
	base := resetPeak(t, pid)
	var wg sync.WaitGroup
	var sent [uploads]int
	for i := range uploads {
		key := accessKey
		if i%2 == 1 {
			key = otherKey
		}
		head := requestHead(t, signedRequestAs(t, s.api, "POST", "/", declared, key, "not-the-secret-key", ""))
		wg.Go(func() {
			_, n, err := openStalled(t, s, head, send)
			sent[i] = n
			if err != nil {
				t.Errorf("upload %d: sending its body failed after %d bytes: %v", i, n, err)
			}
		})
	}
	wg.Wait()
	settled(pid)
	hwm := procStatus(pid, "VmHWM")
	t.Logf("%d uploads sent %v bytes of %d and stalled; server VmRSS %d kB before, VmHWM %d kB (grew %d kB)", uploads, sent, declared, base, hwm, hwm-base)
	if base < 0 || hwm < 0 {
		t.Skip("cannot measure the server's peak memory here")
	}
	if hwm-base > bound {
		t.Errorf("server peak RSS grew %d kB for %d kB received, want at most %d kB", hwm-base, uploads*send/1024, bound)
	}
}

// settled waits, up to 5 seconds, until the process's VmRSS has stopped
// growing: the bytes sent have left the sockets' buffers for its memory.
func settled(pid int) {
	last, still := procStatus(pid, "VmRSS"), 0
	for deadline := time.Now().Add(5 * time.Second); still < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		rss := procStatus(pid, "VmRSS")
		if rss > last {
			still = 0
		} else {
			still++
		}
		last = rss
	}
}

// starvation is the review's starve.py: five connections, signed with one
// tenant's access key id and a garbage signature, declare 256 MiB (the
// whole body budget) and send no byte of body. Another tenant's calls with
// a body are answered at once.
func starvation(t *testing.T, s *server) {
	const total, per = 256 << 20, 58_000_000
	for left := total; left > 0; left -= per {
		req := signedRequest(t, s.api, "POST", "/", int64(min(per, left)), "not-the-secret-key", "")
		openStalled(t, s, requestHead(t, req), 0)
	}
	v1, v2 := clientsOf(s.api, otherKey, otherSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"v1 GetSendQuota", func() error { _, err := v1.GetSendQuota(ctx, &ses.GetSendQuotaInput{}); return err }},
		{"v2 CreateEmailIdentity", func() error {
			_, err := v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("other.example.test")})
			return err
		}},
	} {
		start := time.Now()
		err := c.call()
		if took := time.Since(start); err != nil || took > 2*time.Second {
			t.Errorf("another tenant's %s during the attack: %v after %v, want an answer within 2s", c.name, err, took.Round(time.Millisecond))
		}
	}
}

// silentFlood is the review's hog.py: thousands of connections that send
// nothing, from one address and then from ten; a real SDK call on a new
// connection is answered at once.
func silentFlood(t *testing.T, s *server) {
	addr := strings.TrimPrefix(s.api, "http://")
	for _, from := range [][]string{{"127.0.0.1"}, testkit.Loopbacks(10)} {
		const n = 4000
		conns := testkit.SilentConns(t, addr, from, n)
		_, v2 := clientsOf(s.api, accessKey, secretKey)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		_, err := v2.GetAccount(ctx, &sesv2.GetAccountInput{})
		took := time.Since(start)
		cancel()
		if err != nil || took > 2*time.Second {
			t.Errorf("GetAccount with %d silent connections from %d addresses: %v after %v, want an answer within 2s", n, len(from), err, took.Round(time.Millisecond))
		}
		t.Logf("%d silent connections from %d addresses: GetAccount answered in %v", n, len(from), took.Round(time.Millisecond))
		for _, c := range conns {
			c.Close()
		}
	}
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
		// maxGrowth bounds the growth of the server's peak RSS: what the
		// attack may add is the bad-signature bodies (2 × 8 MiB) and the
		// unsigned connections' first bytes. Reading the unsigned bodies
		// would add 12 × 24 MiB.
		maxGrowth = 64 << 10 // kB
	)
	pid := s.cmd.Process.Pid
	base := resetPeak(t, pid)
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

	var wg sync.WaitGroup
	for _, a := range attacks {
		wg.Go(func() { a.conn, a.sent, a.err = openStalled(t, s, a.head, a.send) })
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
	t.Logf("%d connections declared %d bytes each; the refused ones got %d bytes onto the wire in all, the bad-signature ones %d; server VmRSS %d kB before, %d kB now, VmHWM %d kB",
		len(attacks), declared, sentRefused, sentBadSig, base, rss, hwm)
	if base < 0 || hwm < 0 {
		t.Skip("cannot measure the server's peak memory here")
	}
	if hwm-base > maxGrowth {
		t.Errorf("server peak RSS grew %d kB during the attack, want at most %d kB", hwm-base, maxGrowth)
	}
}

// signedRequest is a request to the server at base signed as the SDK
// signs, with the test account's access key and the given secret (a wrong
// one makes a bad signature), declaring a body of length bytes. A
// contentHash is sent as X-Amz-Content-Sha256 and signed.
func signedRequest(t *testing.T, base, method, path string, length int64, secret, contentHash string) *http.Request {
	t.Helper()
	return signedRequestAs(t, base, method, path, length, accessKey, secret, contentHash)
}

// signedRequestAs is signedRequest with the access key id key.
func signedRequestAs(t *testing.T, base, method, path string, length int64, key, secret, contentHash string) *http.Request {
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
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
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
