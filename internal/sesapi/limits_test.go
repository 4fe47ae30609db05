package sesapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/testkit"
)

// limitsEnv is an API whose V1 and V2 handlers count the requests that
// reach them and the body bytes they see.
type limitsEnv struct {
	srv     *sesapi.Server
	accts   *account.Store
	key     account.Key
	reached atomic.Int64
	seen    atomic.Int64
}

func newLimitsEnv(t *testing.T, d *db.DB, opts sesapi.Options) *limitsEnv {
	t.Helper()
	box, err := seal.New("k")
	if err != nil {
		t.Fatal(err)
	}
	opts.Accounts = account.New(d, box, nil)
	e := &limitsEnv{accts: opts.Accounts}
	if _, e.key, err = opts.Accounts.Create(context.Background(), account.CreateOptions{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.reached.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		e.seen.Add(n)
		io.WriteString(w, "ok")
	})
	opts.Region, opts.V1, opts.V2 = apitest.Region, h, h
	e.srv = sesapi.New(opts)
	return e
}

// sign signs r with creds at the given time, with payload as the payload
// hash, as the AWS SDK does.
func sign(t *testing.T, r *http.Request, creds aws.Credentials, payload string, at time.Time) {
	t.Helper()
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, payload, "ses", apitest.Region, at); err != nil {
		t.Fatal(err)
	}
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// zeros is an endless body that counts the bytes read from it.
type zeros struct{ read atomic.Int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.read.Add(int64(len(p)))
	return len(p), nil
}

// TestRefusedBeforeBody: a request that cannot be authenticated from its
// headers, or that declares a body over the limit, is answered without
// reading a byte of its body, and its connection is to be closed.
func TestRefusedBeforeBody(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newLimitsEnv(t, d, sesapi.Options{})
		creds := aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: e.key.Secret}
		const declared = 8 << 20
		now := time.Now()
		cases := []struct {
			name, path string
			length     int64
			prepare    func(r *http.Request)
			status     int
			code       string
		}{
			{"v1 unsigned", "/", declared, func(*http.Request) {}, 403, "MissingAuthenticationToken"},
			{"v2 unsigned", "/v2/email/outbound-emails", declared, func(*http.Request) {}, 403, "MissingAuthenticationTokenException"},
			{"garbage Authorization", "/", declared, func(r *http.Request) {
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage")
				r.Header.Set("X-Amz-Date", now.UTC().Format("20060102T150405Z"))
			}, 400, "IncompleteSignature"},
			{"bad X-Amz-Date", "/", declared, func(r *http.Request) {
				sign(t, r, creds, hashOf(nil), now)
				r.Header.Set("X-Amz-Date", "yesterday")
			}, 400, "IncompleteSignature"},
			{"unknown key", "/", declared, func(r *http.Request) {
				sign(t, r, aws.Credentials{AccessKeyID: "AKIANOSUCHKEY0000000", SecretAccessKey: "x"}, hashOf(nil), now)
			}, 403, "InvalidClientTokenId"},
			{"v2 unknown key", "/v2/email/outbound-emails", declared, func(r *http.Request) {
				sign(t, r, aws.Credentials{AccessKeyID: "AKIANOSUCHKEY0000000", SecretAccessKey: "x"}, hashOf(nil), now)
			}, 403, "UnrecognizedClientException"},
			{"signed 20 minutes ago", "/", declared, func(r *http.Request) {
				sign(t, r, creds, hashOf(nil), now.Add(-20*time.Minute))
			}, 403, "SignatureDoesNotMatch"},
			{"known key, wrong secret, X-Amz-Content-Sha256", "/", declared, func(r *http.Request) {
				r.Header.Set("X-Amz-Content-Sha256", hashOf([]byte("the body")))
				sign(t, r, aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: "not-the-secret"}, hashOf([]byte("the body")), now)
			}, 403, "SignatureDoesNotMatch"},
			{"signed, declared over the limit", "/", sesapi.MaxBody + 1, func(r *http.Request) {
				sign(t, r, creds, hashOf(nil), now)
			}, 413, "InvalidParameterValue"},
			{"v2 unsigned, declared over the limit", "/v2/email/outbound-emails", sesapi.MaxBody + 1, func(*http.Request) {}, 413, "BadRequestException"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				body := &zeros{}
				r := httptest.NewRequest("POST", "http://sesame.test"+c.path, body)
				r.ContentLength = c.length
				c.prepare(r)
				w := httptest.NewRecorder()
				e.srv.ServeHTTP(w, r)
				got := w.Body.String() + w.Header().Get("x-amzn-ErrorType")
				if w.Code != c.status || !strings.Contains(got, c.code) {
					t.Errorf("answer %d %s, want %d %s", w.Code, got, c.status, c.code)
				}
				if n := body.read.Load(); n != 0 {
					t.Errorf("%d body bytes read before refusing", n)
				}
				if w.Header().Get("Connection") != "close" {
					t.Errorf("Connection: %q, want close", w.Header().Get("Connection"))
				}
			})
		}
		if n := e.reached.Load(); n != 0 {
			t.Errorf("%d refused requests reached the handler", n)
		}
	})
}

// TestRefusedConnectionClosed: over a real connection, a refused request
// whose client sent part of its body and stalls is answered at once and
// its connection closed, not held open waiting for the rest.
func TestRefusedConnectionClosed(t *testing.T) {
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{})
	hs := httptest.NewServer(e.srv)
	defer hs.Close()
	for _, c := range []struct {
		name     string
		declared int
		headers  string
		status   int
	}{
		{"unsigned, small body", 100 << 10, "", 403},
		{"unsigned, large body", 40 << 20, "", 403},
		{"unknown key", 1 << 20, "Authorization: AWS4-HMAC-SHA256 Credential=AKIANOSUCHKEY0000000/" + time.Now().UTC().Format("20060102") +
			"/us-east-1/ses/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\nX-Amz-Date: " + time.Now().UTC().Format("20060102T150405Z") + "\r\n", 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", hs.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := "POST / HTTP/1.1\r\nHost: sesame.test\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
				c.headers + "Content-Length: " + strconv.Itoa(c.declared) + "\r\n\r\n"
			if _, err := conn.Write([]byte(head + strings.Repeat("a", 1000))); err != nil {
				t.Fatal(err)
			}
			// The client now stalls: it sends nothing more.
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a stalled refused request: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !resp.Close {
				t.Errorf("answer %d, Connection: close %v; want %d and close", resp.StatusCode, resp.Close, c.status)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the answer: %v, want the connection closed (EOF)", err)
			}
		})
	}
}

// TestBodyBudget: bodies held at once are bounded. Two signed uploads
// that stall one byte short take the budget; the next large one waits
// BodyWait and is
// throttled in SES's words, while small requests are still served; once
// the stalled connections go, their bytes are free again.
func TestBodyBudget(t *testing.T) {
	const (
		maxBody = 1 << 20
		wait    = 100 * time.Millisecond
	)
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{MaxBody: maxBody, MaxInFlight: 2*maxBody + 64<<10, BodyWait: wait})
	hs := httptest.NewServer(e.srv)
	defer hs.Close()
	creds := aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: e.key.Secret}
	full := bytes.Repeat([]byte("a"), maxBody)

	// Two signed requests declaring maxBody send all but a byte and stall.
	var stalled []net.Conn
	for range 2 {
		req, _ := http.NewRequest("POST", hs.URL+"/", nil)
		req.ContentLength = maxBody
		sign(t, req, creds, hashOf(full), time.Now())
		conn, err := net.Dial("tcp", hs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		pr, pw := io.Pipe()
		defer pw.Close()
		req.Body = pr
		go req.Write(conn)
		pw.Write(full[:maxBody-1])
		stalled = append(stalled, conn)
	}
	testkit.WaitFor(t, "the stalled uploads to take their bytes", func() bool { return e.srv.InFlight() == 2*maxBody })

	send := func(path string, body []byte, chunked bool) (int, string, time.Duration) {
		t.Helper()
		return post(t, hs, creds, path, body, chunked)
	}

	// No room for another maxBody: throttled after waiting.
	for _, c := range []struct {
		path, code string
		status     int
	}{{"/", "<Code>Throttling</Code>", 400}, {"/v2/email/outbound-emails", "TooManyRequestsException", 429}} {
		status, got, took := send(c.path, full, false)
		if status != c.status || !strings.Contains(got, c.code) || !strings.Contains(got, "Rate exceeded") {
			t.Errorf("%s with the budget taken: %d %s, want %d %s", c.path, status, got, c.status, c.code)
		}
		if took < wait {
			t.Errorf("%s throttled after %v, before waiting %v", c.path, took, wait)
		}
	}
	// Small requests still fit.
	small := []byte("Action=ListIdentities&Version=2010-12-01")
	if status, got, _ := send("/", small, false); status != 200 || got != "ok" {
		t.Errorf("small request with the budget taken: %d %s", status, got)
	}
	if status, got, _ := send("/", small, true); status != 200 || got != "ok" {
		t.Errorf("small chunked request with the budget taken: %d %s", status, got)
	}

	// The stalled clients go away: their bytes come back.
	for _, c := range stalled {
		c.Close()
	}
	testkit.WaitFor(t, "the stalled uploads' bytes to come back", func() bool { return e.srv.InFlight() == 0 })
	before := e.seen.Load()
	if status, got, _ := send("/", full, false); status != 200 || got != "ok" {
		t.Errorf("maxBody request with the budget free: %d %s", status, got)
	}
	if status, got, _ := send("/", full, true); status != 200 || got != "ok" {
		t.Errorf("maxBody chunked request with the budget free: %d %s", status, got)
	}
	if n := e.seen.Load() - before; n != 2*maxBody {
		t.Errorf("handlers saw %d body bytes, want %d", n, 2*maxBody)
	}
	// A chunked body over the limit: refused once it passes it.
	if status, got, _ := send("/", append(full, 'a'), true); status != 413 || !strings.Contains(got, "InvalidParameterValue") {
		t.Errorf("chunked body over the limit: %d %s", status, got)
	}
	testkit.WaitFor(t, "every byte to come back", func() bool { return e.srv.InFlight() == 0 })
}

// TestRefusedClientStillWriting: a client that is still sending its body
// when it is refused (a chunked body over the limit whose last pieces
// trickle in) can finish sending them and then read the whole answer: the
// server does not close with the client's bytes unread, which resets the
// connection (the client's next write fails, "broken pipe", and its
// transport reports that instead of the answer), yet holds none of them.
func TestRefusedClientStillWriting(t *testing.T) {
	const (
		maxBody = 1 << 20
		pieces  = 32
		every   = 5 * time.Millisecond // the rest arrives well within the server's second
	)
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{MaxBody: maxBody})
	hs := httptest.NewServer(e.srv)
	defer hs.Close()
	creds := aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: e.key.Secret}
	over := bytes.Repeat([]byte("a"), maxBody+1)
	piece := bytes.Repeat([]byte("a"), 1<<10)

	req, _ := http.NewRequest("POST", hs.URL+"/", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(t, req, creds, hashOf(over), time.Now())
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST / HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n", req.Host)
	req.Header.Write(&head)
	head.WriteString("\r\n")
	conn, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wrote := make(chan error, 1)
	go func() {
		w := func(b []byte) error {
			_, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(b), b)
			return err
		}
		if _, err := conn.Write(head.Bytes()); err != nil {
			wrote <- err
			return
		}
		if err := w(over); err != nil {
			wrote <- err
			return
		}
		for i := range pieces {
			time.Sleep(every)
			if err := w(piece); err != nil {
				wrote <- fmt.Errorf("piece %d of the rest: %w", i, err)
				return
			}
		}
		_, err := io.WriteString(conn, "0\r\n\r\n")
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Errorf("the client could not finish sending its body: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client's body is still being written after 10 s")
	}
	status, got, closed := answer(t, conn)
	if status != 413 || !strings.Contains(got, "InvalidParameterValue") || !closed {
		t.Errorf("answer %d %s, closed %v; want 413 InvalidParameterValue, closed", status, got, closed)
	}
	if n := e.reached.Load(); n != 0 {
		t.Errorf("%d refused requests reached the handler", n)
	}
	testkit.WaitFor(t, "every byte to come back", func() bool { return e.srv.InFlight() == 0 })
}

// post sends body to hs's path, signed with creds as the SDKs sign (no
// X-Amz-Content-Sha256), chunked (length unknown to the client) when asked,
// and returns the answer's status, its body and x-amzn-ErrorType, and how
// long the answer took.
func post(t *testing.T, hs *httptest.Server, creds aws.Credentials, path string, body []byte, chunked bool) (int, string, time.Duration) {
	t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd)
	}
	req, _ := http.NewRequest("POST", hs.URL+path, rd)
	sign(t, req, creds, hashOf(body), time.Now())
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b) + resp.Header.Get("x-amzn-ErrorType"), time.Since(start)
}

// account creates another account and returns its credentials.
func (e *limitsEnv) account(t *testing.T, name string) aws.Credentials {
	t.Helper()
	_, k, err := e.accts.Create(context.Background(), account.CreateOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.Secret}
}

// stall opens a connection to hs and sends a POST / declaring a body of
// length bytes, signed with creds as the SDKs sign for a body hashing to
// payload, then the first bytes of that body, then nothing more.
func stall(t *testing.T, hs *httptest.Server, creds aws.Credentials, length int64, payload string, first []byte) net.Conn {
	t.Helper()
	conn := open(t, hs, "/", creds, length, payload)
	go conn.Write(first) // may block while the server does not read
	return conn
}

// open opens a connection to hs and sends the head of a POST to path
// declaring a body of length bytes, signed as stall's. The connection is
// closed when the test ends.
func open(t *testing.T, hs *httptest.Server, path string, creds aws.Credentials, length int64, payload string) net.Conn {
	t.Helper()
	req, _ := http.NewRequest("POST", hs.URL+path, nil)
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(t, req, creds, payload, time.Now())
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", path, req.Host, length)
	req.Header.Write(&head)
	head.WriteString("\r\n")
	conn, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write(head.Bytes()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// answer reads the answer on conn, waiting at most 5 seconds, and returns
// its status, body and x-amzn-ErrorType, and whether the server said
// Connection: close and closed the connection.
func answer(t *testing.T, conn net.Conn) (status int, got string, closed bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Close {
		_, err = br.ReadByte()
		closed = err == io.EOF
	}
	return resp.StatusCode, string(b) + resp.Header.Get("x-amzn-ErrorType"), closed
}

// attacked is an API serving bodies of up to maxBody with a budget of
// four of them, waiting up to 3 s for room, and the credentials of an
// attacker who knows its account's access key id, not its secret.
func attacked(t *testing.T, maxBody int64) (*limitsEnv, *httptest.Server, aws.Credentials) {
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{MaxBody: maxBody, MaxInFlight: 4 * maxBody, BodyWait: 3 * time.Second})
	hs := httptest.NewServer(e.srv)
	t.Cleanup(hs.Close) // after the stalled connections close
	return e, hs, aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: "not-the-secret"}
}

// TestStallersDoNotStarveOthers is the starvation attack of the review of
// "[4/10] Hardening" defect 1: requests with a known access key and a
// wrong signature declare the whole body budget and send no byte of their
// bodies. They must hold (almost) nothing, and another account's requests,
// small or of the largest size, are served at once.
func TestStallersDoNotStarveOthers(t *testing.T) {
	const maxBody = 1 << 20
	e, hs, attacker := attacked(t, maxBody)
	for range 4 {
		before := e.srv.InFlight()
		stall(t, hs, attacker, maxBody, hashOf(nil), nil)
		testkit.WaitFor(t, "the stalled request to reach its body", func() bool { return e.srv.InFlight() > before })
	}
	if held := e.srv.InFlight(); held > 4*64<<10 {
		t.Errorf("4 requests that sent no body byte hold %d bytes of the budget, want at most a 64 KiB buffer each", held)
	}
	other := e.account(t, "b")
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"small", []byte("Action=GetSendQuota&Version=2010-12-01")},
		{"largest", bytes.Repeat([]byte("a"), maxBody)},
	} {
		status, got, took := post(t, hs, other, "/", c.body, false)
		if status != 200 || got != "ok" || took > time.Second {
			t.Errorf("another account's %s request during the attack: %d %s after %v, want 200 at once", c.name, status, got, took.Round(time.Millisecond))
		}
	}
}

// TestAccountShare: one account's bodies hold at most its share of the
// budget (twice the largest body), so an account that knows another's
// access key id, or floods its own, leaves room for everyone else.
func TestAccountShare(t *testing.T) {
	const maxBody = 1 << 20
	// Without X-Amz-Content-Sha256 a wrong signature shows only once the
	// body is in: these bodies are read, all but their last byte.
	e, hs, attacker := attacked(t, maxBody)
	full := bytes.Repeat([]byte("a"), maxBody)
	for range 4 {
		stall(t, hs, attacker, maxBody, hashOf(full), full[:maxBody-1])
	}
	testkit.WaitFor(t, "the uploads to take the account's share", func() bool { return e.srv.InFlight() >= 2*maxBody })
	// The share bounds what the requests hold beyond their first 64 KiB.
	if held := e.srv.InFlight(); held > 2*maxBody+4*64<<10 {
		t.Errorf("one account's uploads hold %d bytes, over its share of %d and a first chunk each", held, 2*maxBody)
	}
	status, got, took := post(t, hs, e.account(t, "b"), "/", full, false)
	if status != 200 || got != "ok" || took > time.Second {
		t.Errorf("another account's largest request with the first account at its share: %d %s after %v, want 200 at once", status, got, took.Round(time.Millisecond))
	}
}

// stallBody gives left bytes, then, asked for more, closes reached and
// blocks until release is closed.
type stallBody struct {
	left             int
	reached, release chan struct{}
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		close(b.reached)
		<-b.release
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), b.left)
	for i := range p[:n] {
		p[i] = 'a'
	}
	b.left -= n
	return n, nil
}

// TestHeldMemoryTracksReceived: a body being received holds memory for
// the bytes that arrived, not for its declared length, nor for a buffer
// doubled past them.
func TestHeldMemoryTracksReceived(t *testing.T) {
	const (
		declared = 8 << 20
		sent     = 2<<20 + 1 // just past a doubling
		uploads  = 4
		buffer   = 64 << 10 // the one partly filled read buffer each may hold
		slack    = 2 << 20  // whatever else the test allocates meanwhile
	)
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{MaxBody: declared, MaxInFlight: 64 << 20})
	creds := aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: e.key.Secret}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range uploads {
		body := &stallBody{left: sent, reached: make(chan struct{}), release: release}
		r := httptest.NewRequest("POST", "http://sesame.test/", body)
		r.ContentLength = declared
		sign(t, r, creds, hashOf(nil), time.Now())
		wg.Go(func() { e.srv.ServeHTTP(httptest.NewRecorder(), r) })
		<-body.reached
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grew, held := int64(ms.HeapAlloc)-int64(base), e.srv.InFlight()
	close(release)
	wg.Wait()
	t.Logf("%d uploads of %d bytes so far: heap grew %d bytes; %d bytes charged to the budget", uploads, sent, grew, held)
	if max := int64(uploads * (sent + buffer)); held > max {
		t.Errorf("%d bytes charged to the budget for %d bytes received, want at most %d", held, uploads*sent, max)
	}
	if max := int64(uploads*(sent+buffer) + slack); grew > max {
		t.Errorf("heap grew %d bytes for %d bytes received, want at most %d", grew, uploads*sent, max)
	}
	if n := e.srv.InFlight(); n != 0 {
		t.Errorf("%d bytes still charged once the uploads failed", n)
	}
}

// TestChunkedLargestBodyAtSmallestBudget: with the budget at its smallest
// (the largest body), a chunked body of the largest size is accepted; one
// byte more is refused as too large.
func TestChunkedLargestBodyAtSmallestBudget(t *testing.T) {
	const maxBody = 1 << 20
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{MaxBody: maxBody, MaxInFlight: 1, BodyWait: 200 * time.Millisecond})
	hs := httptest.NewServer(e.srv)
	defer hs.Close()
	creds := aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: e.key.Secret}
	full := bytes.Repeat([]byte("a"), maxBody)
	for _, chunked := range []bool{true, false} {
		if status, got, _ := post(t, hs, creds, "/", full, chunked); status != 200 || got != "ok" {
			t.Errorf("largest body (chunked %v) with the smallest budget: %d %s, want 200", chunked, status, got)
		}
	}
	if status, got, _ := post(t, hs, creds, "/", append(full, 'a'), true); status != 413 || !strings.Contains(got, "InvalidParameterValue") {
		t.Errorf("chunked body one byte over the limit: %d %s, want 413", status, got)
	}
	testkit.WaitFor(t, "every byte to come back", func() bool { return e.srv.InFlight() == 0 })
}

// slowReader gives data in pieces of piece bytes, one every every.
type slowReader struct {
	data  []byte
	piece int
	every time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.every)
	n := copy(p[:min(len(p), r.piece)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestSlowBody: a body must keep arriving, MinBodyRate bytes in every
// BodyRateWindow, and be whole within BodyTimeout; one that stalls is
// answered with RequestTimeout once a window passes, its connection closed
// and its bytes given back, while a steady one slower than a window in all
// is taken.
func TestSlowBody(t *testing.T) {
	const (
		window  = 200 * time.Millisecond
		ceiling = 1500 * time.Millisecond
	)
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{MaxBody: 1 << 20, MinBodyRate: 1 << 10, BodyRateWindow: window, BodyTimeout: ceiling})
	hs := httptest.NewServer(e.srv)
	t.Cleanup(hs.Close)
	creds := aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: e.key.Secret}
	full := bytes.Repeat([]byte("a"), 1<<20)

	for _, c := range []struct{ path, code string }{{"/", "<Code>RequestTimeout</Code>"}, {"/v2/email/outbound-emails", "RequestTimeoutException"}} {
		start := time.Now()
		conn := open(t, hs, c.path, creds, int64(len(full)), hashOf(full))
		conn.Write(full[:10])
		status, got, closed := answer(t, conn)
		took := time.Since(start)
		if !strings.Contains(got, c.code) || !strings.Contains(got, "slower than 1024 bytes in 200ms") || !closed {
			t.Errorf("%s, a stalled body: %d %s, closed %v; want %s and the connection closed", c.path, status, got, closed, c.code)
		}
		if took < window || took > window+time.Second {
			t.Errorf("%s: a stalled body answered after %v, want after the %v window", c.path, took, window)
		}
	}
	testkit.WaitFor(t, "the stalled bodies' bytes to come back", func() bool { return e.srv.InFlight() == 0 })

	// 4 KiB every 25 ms: above the rate, and longer than a window in all.
	steady := func(n int) io.Reader {
		return &slowReader{data: full[:n], piece: 4 << 10, every: 25 * time.Millisecond}
	}
	req, _ := http.NewRequest("POST", hs.URL+"/", steady(64<<10))
	req.ContentLength = 64 << 10
	sign(t, req, creds, hashOf(full[:64<<10]), time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a steady body over several windows: %s, want 200", resp.Status)
	}

	// Steady, but not whole within the ceiling.
	conn := open(t, hs, "/", creds, int64(len(full)), hashOf(full))
	start := time.Now()
	go io.Copy(conn, steady(len(full)))
	status, got, closed := answer(t, conn)
	took := time.Since(start)
	if status != 400 || !strings.Contains(got, "did not arrive within 1.5s") || !closed {
		t.Errorf("a steady body past the ceiling: %d %s, closed %v", status, got, closed)
	}
	if took < ceiling-100*time.Millisecond || took > ceiling+time.Second {
		t.Errorf("a steady body past the ceiling answered after %v, want after %v", took, ceiling)
	}
}

// TestWaitingIsNotSlow: time a body spends waiting for room in the budget
// does not count against its rate (the server reads nothing meanwhile, so
// the client cannot send).
func TestWaitingIsNotSlow(t *testing.T) {
	const (
		maxBody = 256 << 10
		window  = 200 * time.Millisecond
	)
	// The rate is more than the bytes http.Server may have buffered with
	// the headers, so that the waiting body's first read cannot meet it.
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{MaxBody: maxBody, MaxInFlight: maxBody, BodyWait: 3 * window,
		MinBodyRate: 16 << 10, BodyRateWindow: window})
	hs := httptest.NewServer(e.srv)
	t.Cleanup(hs.Close)
	creds := aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: e.key.Secret}
	other := e.account(t, "b")
	full := bytes.Repeat([]byte("a"), maxBody)
	// Account b's upload takes the whole budget, then sends its last 64 KiB
	// in four pieces 100 ms apart: fast enough for the window, and done
	// after two windows.
	blocker := open(t, hs, "/", other, maxBody, hashOf(full))
	go func() {
		blocker.Write(full[:maxBody-64<<10])
		for i := maxBody - 64<<10; i < maxBody; i += 16 << 10 {
			time.Sleep(window / 2)
			blocker.Write(full[i : i+16<<10])
		}
	}()
	testkit.WaitFor(t, "the first upload to take the budget", func() bool { return e.srv.InFlight() == maxBody })
	// Another upload sends its whole body at once and waits for room (not
	// even its first chunk is free) until the blocker is done; then it is
	// read and taken, though the window passed twice meanwhile.
	start := time.Now()
	conn := open(t, hs, "/", creds, maxBody, hashOf(full))
	go conn.Write(full)
	status, got, _ := answer(t, conn)
	if took := time.Since(start); status != 200 || got != "ok" || took < 3*window/2 {
		t.Errorf("an upload that waited for room: %d %s after %v, want 200 after waiting about %v", status, got, took, 2*window)
	}
	if status, got, _ := answer(t, blocker); status != 200 {
		t.Errorf("the blocking upload: %d %s, want 200", status, got)
	}
}

// TestChunksReused: the memory a body was read into is reused by the next
// body rather than left to the garbage collector, so that under churn
// (bodies throttled, cut short or done while others arrive) the memory
// held stays near what the budget counts.
func TestChunksReused(t *testing.T) {
	const size = 1 << 20
	e := newLimitsEnv(t, dbtest.SQLite(t), sesapi.Options{MaxBody: size})
	creds := aws.Credentials{AccessKeyID: e.key.AccessKeyID, SecretAccessKey: e.key.Secret}
	full := bytes.Repeat([]byte("a"), size)
	serve := func() {
		r := httptest.NewRequest("POST", "http://sesame.test/", bytes.NewReader(full))
		sign(t, r, creds, hashOf(full), time.Now())
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("signed request: %d %s", w.Code, w.Body)
		}
	}
	serve()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	serve()
	runtime.ReadMemStats(&after)
	// Half: with -race, sync.Pool drops a quarter of what it is given.
	if n := after.TotalAlloc - before.TotalAlloc; n > size/2 {
		t.Errorf("a second %d-byte body allocated %d bytes, want its chunks reused", size, n)
	}
}
