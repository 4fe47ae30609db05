package sesapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
)

// limitsEnv is an API whose V1 and V2 handlers count the requests that
// reach them and the body bytes they see.
type limitsEnv struct {
	srv     *sesapi.Server
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
	e := &limitsEnv{}
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
// that stall take the budget; the next large one waits BodyWait and is
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

	// Two signed requests declaring maxBody send 10 bytes and stall.
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
		pw.Write(full[:10])
		stalled = append(stalled, conn)
	}
	waitFor(t, "the stalled uploads to take their bytes", func() bool { return e.srv.InFlight() == 2*maxBody })

	send := func(path string, body []byte, chunked bool) (int, string, time.Duration) {
		t.Helper()
		var rd io.Reader = bytes.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // length unknown to the client: chunked
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
	waitFor(t, "the stalled uploads' bytes to come back", func() bool { return e.srv.InFlight() == 0 })
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
	waitFor(t, "every byte to come back", func() bool { return e.srv.InFlight() == 0 })
}

// waitFor polls cond every millisecond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
