package origin_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sesame-email/sesame/internal/origin"
)

// countingReader counts the bytes read through it and whether EOF was seen.
type countingReader struct {
	r   io.Reader
	n   int64
	eof bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

func TestVerifyDKIMPassAndFail(t *testing.T) {
	z := newZone(t)
	ed := z.key("recipient.example", "ed")
	// An RSA key too, the algorithm most reports are signed with.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	z.add(fmt.Sprintf(`rsa._domainkey.Provider.Test. 300 IN TXT "v=DKIM1; k=rsa; p=%s"`, base64.StdEncoding.EncodeToString(der)))

	msg := sign(t, report("mailer-daemon@recipient.example"), "recipient.example", "ed", ed)
	var b strings.Builder
	if err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: "Provider.Test", Selector: "rsa", Signer: rk}); err != nil {
		t.Fatal(err)
	}
	// A third signature whose key is not published.
	msg = sign(t, b.String(), "nokey.test", "s1", z.key("elsewhere.test", "s1"))

	cr := &countingReader{r: strings.NewReader(msg)}
	got, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, cr)
	if err != nil {
		t.Fatal(err)
	}
	if !cr.eof || cr.n != int64(len(msg)) {
		t.Fatalf("read %d of %d bytes (EOF %v)", cr.n, len(msg), cr.eof)
	}
	if len(got) != 3 {
		t.Fatalf("got %d results, want 3: %+v", len(got), got)
	}
	// Topmost first: the last signer.
	if r := got[0]; r.Domain != "nokey.test" || r.Pass || r.Temporary || !strings.Contains(r.Err, "no key") {
		t.Errorf("nokey.test: %+v", r)
	}
	if r := got[1]; r.Domain != "provider.test" || !r.Pass || r.Err != "" {
		t.Errorf("provider.test (RSA, d= lower-cased): %+v", r)
	}
	if r := got[2]; r.Domain != "recipient.example" || !r.Pass {
		t.Errorf("recipient.example (Ed25519): %+v", r)
	}
}

func TestVerifyDKIMUnsignedAndHeaderOnly(t *testing.T) {
	z := newZone(t)
	for _, msg := range []string{
		"",
		"\r\n",
		"Subject: no signature\r\n\r\nbody\r\n",
		"Subject: no body, no empty line\r\n",
		"Subject: bare LF\n\nbody\n",
	} {
		got, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, strings.NewReader(msg))
		if err != nil || len(got) != 0 {
			t.Errorf("%q: got %+v, %v; want nothing", msg, got, err)
		}
	}
	if q := z.s.Queries(); q != 0 {
		t.Fatalf("%d queries for unsigned messages", q)
	}

	// A signed message that ends with its header still verifies (an empty body).
	key := z.key("recipient.example", "s1")
	msg := sign(t, "From: mailer-daemon@recipient.example\r\nSubject: x\r\n\r\n", "recipient.example", "s1", key)
	msg = strings.TrimSuffix(msg, "\r\n")
	got, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, strings.NewReader(msg))
	if err != nil || len(got) != 1 || !got[0].Pass {
		t.Fatalf("header-only signed message: %+v, %v", got, err)
	}
}

func TestVerifyDKIMBoundsSignatures(t *testing.T) {
	z := newZone(t)
	msg := report("mailer-daemon@recipient.example")
	for i := range origin.MaxSignatures + 3 {
		d := fmt.Sprintf("s%d.recipient.example", i)
		msg = sign(t, msg, d, "k", z.key(d, "k"))
	}
	before := z.s.Queries()
	got, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != origin.MaxSignatures {
		t.Fatalf("got %d results, want %d", len(got), origin.MaxSignatures)
	}
	// The topmost signatures were verified: the last signers'.
	for i, r := range got {
		if want := fmt.Sprintf("s%d.recipient.example", origin.MaxSignatures+2-i); r.Domain != want || !r.Pass {
			t.Errorf("result %d = %+v, want a pass for %s", i, r, want)
		}
	}
	if q := z.s.Queries() - before; q != origin.MaxSignatures {
		t.Fatalf("%d key lookups, want %d", q, origin.MaxSignatures)
	}
}

func TestVerifyDKIMHeaderTooLarge(t *testing.T) {
	z := newZone(t)
	hdr := "DKIM-Signature: v=1; d=recipient.example\r\nX-Pad: " + strings.Repeat("a", origin.MaxHeaderBytes) + "\r\n\r\nbody\r\n"
	cr := &countingReader{r: strings.NewReader(hdr)}
	_, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, cr)
	if !errors.Is(err, origin.ErrHeaderTooLarge) {
		t.Fatalf("err = %v, want ErrHeaderTooLarge", err)
	}
	if !cr.eof {
		t.Fatal("the message was not read to its end")
	}
}

// bodyReader yields a header and then n bytes of body, repeating line, as
// read; every 4 MiB of body it records the live heap (after a GC).
type bodyReader struct {
	hdr      *strings.Reader
	left     int64
	line     []byte
	off      int
	sampled  int64
	maxHeap  uint64
	baseline uint64
}

func newBodyReader(hdr string, size int64, line string) *bodyReader {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return &bodyReader{hdr: strings.NewReader(hdr), left: size, line: []byte(line), baseline: m.HeapAlloc}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.hdr.Len() > 0 {
		return b.hdr.Read(p)
	}
	if b.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && b.left > 0 {
		c := copy(p[n:min(len(p), n+int(min(b.left, int64(len(b.line)))))], b.line[b.off:])
		n += c
		b.left -= int64(c)
		b.off = (b.off + c) % len(b.line)
	}
	if b.sampled += int64(n); b.sampled >= 4<<20 {
		b.sampled = 0
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		b.maxHeap = max(b.maxHeap, m.HeapAlloc)
	}
	return n, nil
}

// held is the most live heap seen above the baseline while reading.
func (b *bodyReader) held() uint64 {
	if b.maxHeap < b.baseline {
		return 0
	}
	return b.maxHeap - b.baseline
}

// signedHeader returns the header section of a signed report.
func signedHeader(t *testing.T, z *zone, selector string) string {
	key := z.key("recipient.example", selector)
	signed := sign(t, report("mailer-daemon@recipient.example"), "recipient.example", selector, key)
	hdr, _, _ := strings.Cut(signed, "\r\n\r\n")
	return hdr + "\r\n\r\n"
}

func TestVerifyDKIMStreamsTheBody(t *testing.T) {
	z := newZone(t)
	const size = 64 << 20
	body := newBodyReader(signedHeader(t, z, "s1"), size, strings.Repeat("x", 76)+"\r\n")
	got, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, body)
	if err != nil {
		t.Fatal(err)
	}
	// The body is not the signed one, so the signature fails, but it was
	// read and hashed whole.
	if len(got) != 1 || got[0].Pass || !strings.Contains(got[0].Err, "body hash") || body.left != 0 {
		t.Fatalf("got %+v, %d bytes unread", got, body.left)
	}
	if h := body.held(); h > 8<<20 {
		t.Fatalf("verifying a %d MiB body held %d MiB: the body is buffered", size>>20, h>>20)
	}
}

func TestVerifyDKIMBoundsBlankRuns(t *testing.T) {
	// go-msgauth holds a run of empty lines until something follows it.
	z := newZone(t)
	for i, line := range []string{"\r\n", " \t\r\n"} {
		const size = 16 << 20
		body := newBodyReader(signedHeader(t, z, fmt.Sprint("s", i)), size, line)
		start := time.Now()
		got, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, body)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Pass || !strings.Contains(got[0].Err, "blank") || body.left != 0 {
			t.Fatalf("%q: got %+v, %d bytes unread", line, got, body.left)
		}
		if h := body.held(); h > 4<<20 {
			t.Fatalf("%q: a %d MiB run of blank lines held %d MiB", line, size>>20, h>>20)
		}
		t.Logf("%q: %v, held %d KiB", line, time.Since(start), body.held()>>10)
	}
}

// A body whose signed part is followed by a long blank run and more
// content must not verify: the content after the run was not hashed.
func TestVerifyDKIMBlankRunHidesNoContent(t *testing.T) {
	z := newZone(t)
	signed := sign(t, report("mailer-daemon@recipient.example"), "recipient.example", "s1", z.key("recipient.example", "s1"))
	msg := signed + strings.Repeat("\r\n", 40<<10) + "Final-Recipient: rfc822; eve@recipient.example\r\n"
	got, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Pass {
		t.Fatalf("got %+v, want a failure", got)
	}
	// The same run at the very end is ignored by canonicalization and
	// would verify, but the guard cannot know the run ends the body.
	got, err = origin.VerifyDKIM(context.Background(), z.c.Resolver, strings.NewReader(signed+strings.Repeat("\r\n", 1000)))
	if err != nil || len(got) != 1 || !got[0].Pass {
		t.Fatalf("short trailing blank lines: %+v, %v", got, err)
	}
}

// failingReader fails after its data.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestVerifyDKIMReadErrorLeaksNothing(t *testing.T) {
	z := newZone(t)
	msg := report("mailer-daemon@recipient.example")
	for _, d := range []string{"a.recipient.example", "b.recipient.example"} {
		msg = sign(t, msg, d, "s1", z.key(d, "s1"))
	}
	before := runtime.NumGoroutine()
	for range 20 {
		_, err := origin.VerifyDKIM(context.Background(), z.c.Resolver, failingReader{strings.NewReader(msg)})
		if err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("err = %v, want the read error", err)
		}
	}
	// go-msgauth verifies several signatures in goroutines fed by pipes:
	// a failed read must still let them finish.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines after 20 failed reads, %d before", n, before)
	}
}
