package dkim

import (
	"bytes"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// crlf turns a message written with LF line endings into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// testMessage has every kind of header field Sign cares about: signed ones,
// one in unusual case, and unsigned ones.
var testMessage = crlf(`Received: from client.example.test by sesame.example.test
From: Alice <alice@example.test>
To: Bob <bob@example.org>,
 Carol <carol@example.org>
Cc: dave@example.org
subject: Hello there
Date: Mon, 02 Jan 2006 15:04:05 +0000
Message-ID: <1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit
X-Mailer: test

Hello, Bob.

Regards,
Alice
`)

// testMessageKeys is the h= Sign gives testMessage.
const testMessageKeys = "From:From:To:Cc:Subject:Date:Message-ID:MIME-Version:Content-Type:Content-Transfer-Encoding"

// zone is a fake DNS: TXT records by name.
type zone map[string]string

// add publishes the key record of each signer.
func (z zone) add(t testing.TB, signers ...Signer) zone {
	t.Helper()
	for _, s := range signers {
		rec, err := s.Key.Record()
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		z[s.Selector+"._domainkey."+s.Domain] = rec
	}
	return z
}

// verify checks msg's signatures as a receiving MTA would, with the keys
// from z. It fails the test only if the verifier itself fails; the result
// of each signature is in its Err.
func verify(t testing.TB, msg []byte, z zone) []*msgauth.Verification {
	t.Helper()
	verifs, err := msgauth.VerifyWithOptions(bytes.NewReader(msg), &msgauth.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if rec, ok := z[name]; ok {
				return []string{rec}, nil
			}
			return nil, fmt.Errorf("lookup %s: no such host", name)
		},
	})
	if err != nil {
		t.Fatalf("VerifyWithOptions: %v", err)
	}
	return verifs
}

// mustVerify fails the test unless msg carries exactly want signatures and
// all of them verify.
func mustVerify(t testing.TB, msg []byte, z zone, want int) {
	t.Helper()
	verifs := verify(t, msg, z)
	if len(verifs) != want {
		t.Fatalf("got %d verifications; want %d", len(verifs), want)
	}
	for i, v := range verifs {
		if v.Err != nil {
			t.Errorf("signature %d (d=%s): %v", i, v.Domain, v.Err)
		}
	}
}

// sigTags returns the tags of the DKIM-Signature fields at the top of msg,
// unfolded, with whitespace removed from every value.
func sigTags(t testing.TB, msg []byte) []map[string]string {
	t.Helper()
	header, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	var out []map[string]string
	for _, field := range strings.Split(strings.ReplaceAll(header, "\r\n ", " "), "\r\n") {
		name, value, _ := strings.Cut(field, ":")
		if !strings.EqualFold(name, "DKIM-Signature") {
			break
		}
		tags, err := ParseRecord(value)
		if err != nil {
			t.Fatalf("parse DKIM-Signature %q: %v", value, err)
		}
		for k, v := range tags {
			tags[k] = strings.Join(strings.Fields(v), "")
		}
		out = append(out, tags)
	}
	return out
}

// signer returns a Signer for the named test key.
func signer(t *testing.T, keyName, domain, selector string) Signer {
	t.Helper()
	k := testKeys(t)[keyName]
	return Signer{Domain: domain, Selector: selector, Key: k}
}

func TestSignVerifies(t *testing.T) {
	tests := []struct {
		name string
		keys []string
	}{
		{"rsa1024", []string{"rsa1024"}},
		{"rsa2048", []string{"rsa2048"}},
		{"ed25519", []string{"ed25519"}},
		{"rsa2048+ed25519", []string{"rsa2048", "ed25519"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var signers []Signer
			for i, k := range tt.keys {
				signers = append(signers, signer(t, k, "example.test", fmt.Sprintf("sel%d", i)))
			}
			before := time.Now().Unix()
			signed, err := Sign([]byte(testMessage), signers, SignOptions{})
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			after := time.Now().Unix()

			if !bytes.HasSuffix(signed, []byte(testMessage)) {
				t.Errorf("signed message does not end with the original message")
			}
			if i := bareLineEnding(signed); i >= 0 {
				t.Errorf("signed message has a bare line ending at %d", i)
			}
			tags := sigTags(t, signed)
			if len(tags) != len(signers) {
				t.Fatalf("got %d DKIM-Signature fields at the top; want %d", len(tags), len(signers))
			}
			for i, s := range signers {
				got := tags[i]
				want := map[string]string{
					"v": "1",
					"a": string(s.Key.Algorithm) + "-sha256",
					"c": "relaxed/relaxed",
					"d": s.Domain,
					"s": s.Selector,
					"h": testMessageKeys,
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("signature %d: %s=%q; want %q", i, k, got[k], v)
					}
				}
				ts, err := strconv.ParseInt(got["t"], 10, 64)
				if err != nil || ts < before || ts > after {
					t.Errorf("signature %d: t=%q; want the signing time, %d..%d", i, got["t"], before, after)
				}
				for _, k := range []string{"x", "i", "l", "q", "z"} {
					if v, ok := got[k]; ok {
						t.Errorf("signature %d: unexpected %s=%q", i, k, v)
					}
				}
				if got["b"] == "" || got["bh"] == "" {
					t.Errorf("signature %d: empty b= or bh=", i)
				}
			}
			mustVerify(t, signed, zone{}.add(t, signers...), len(signers))
		})
	}
}

func TestSignHeaderList(t *testing.T) {
	const body = "\nbody\n"
	tests := []struct {
		name, header, want string
	}{
		{"from only", "From: a@example.test\n", "From:From"},
		{"case and order do not matter", "SUBJECT: s\nfrom: a@example.test\nmessage-id: <1@x>\n",
			"From:From:Subject:Message-ID"},
		{"every signed field", "Feedback-ID: 1:2:3:ses\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\n" +
			"List-Unsubscribe: <https://example.test/u>\nContent-Transfer-Encoding: 7bit\n" +
			"Content-Type: text/plain\nMIME-Version: 1.0\nReply-To: r@example.test\nMessage-ID: <1@x>\n" +
			"Date: Mon, 02 Jan 2006 15:04:05 +0000\nSubject: s\nCc: c@example.org\nTo: t@example.org\n" +
			"From: a@example.test\n",
			"From:From:To:Cc:Subject:Date:Message-ID:Reply-To:MIME-Version:Content-Type:" +
				"Content-Transfer-Encoding:List-Unsubscribe:List-Unsubscribe-Post:Feedback-ID"},
		{"unsigned fields are left out", "From: a@example.test\nX-Mailer: m\nReceived: r\nSender: s@example.test\nBcc: b@example.org\n",
			"From:From"},
		{"repeated fields are all signed", "From: a@example.test\nTo: t1@example.org\nTo: t2@example.org\n",
			"From:From:To:To"},
		{"whitespace before the colon", "From : a@example.test\nSubject\t: s\n", "From:From:Subject"},
		{"folded fields", "From: Alice\n <a@example.test>\nSubject: a\n\tlong subject\n", "From:From:Subject"},
	}
	s := signer(t, "ed25519", "example.test", "s1")
	z := zone{}.add(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed, err := Sign([]byte(crlf(tt.header+body)), []Signer{s}, SignOptions{})
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got := sigTags(t, signed)[0]["h"]; got != tt.want {
				t.Errorf("h=%s; want %s", got, tt.want)
			}
			mustVerify(t, signed, z, 1)
		})
	}
}

func TestSignTamper(t *testing.T) {
	signers := []Signer{
		signer(t, "rsa2048", "example.test", "rsa"),
		signer(t, "ed25519", "example.test", "ed"),
	}
	z := zone{}.add(t, signers...)
	signed, err := Sign([]byte(testMessage), signers, SignOptions{})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	mustVerify(t, signed, z, 2)
	str := string(signed)
	headerEnd := strings.Index(str, "\r\n\r\n") + 2

	tests := []struct {
		name    string
		msg     string
		wantErr bool
	}{
		{"body changed", strings.Replace(str, "Hello, Bob.", "Hello, Bib.", 1), true},
		{"body line added", str + "P.S. wire money\r\n", true},
		{"subject changed", strings.Replace(str, "subject: Hello there", "subject: Hello here", 1), true},
		{"To changed", strings.Replace(str, "Carol", "Carl", 1), true},
		{"From changed", strings.Replace(str, "From: Alice <alice@", "From: Alice <alicia@", 1), true},
		{"second From at the top", "From: Mallory <mallory@example.net>\r\n" + str, true},
		{"second From at the bottom of the header", str[:headerEnd] + "From: Mallory <mallory@example.net>\r\n" + str[headerEnd:], true},
		{"signature removed", str[strings.Index(str, "DKIM-Signature: a=ed25519"):], false}, // the other one still holds
		// Controls: changes relaxed canonicalisation ignores, and fields
		// the signature does not cover.
		{"unsigned field added", "X-Spam-Score: 0\r\n" + str[:headerEnd] + "Received: by mx\r\n" + str[headerEnd:], false},
		{"header whitespace changed", strings.Replace(str, "subject: Hello there", "Subject:   Hello    there ", 1), false},
		{"trailing empty lines added", str + "\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifs := verify(t, []byte(tt.msg), z)
			if len(verifs) == 0 {
				t.Fatal("no signatures found")
			}
			for i, v := range verifs {
				if gotErr := v.Err != nil; gotErr != tt.wantErr {
					t.Errorf("signature %d: err %v; want failure %v", i, v.Err, tt.wantErr)
				}
			}
		})
	}
}

// TestOversignControl shows that the extra From in h= is what catches a
// From added above the original: signed without it, the same change still
// verifies.
func TestOversignControl(t *testing.T) {
	s := signer(t, "ed25519", "example.test", "s1")
	var buf bytes.Buffer
	err := msgauth.Sign(&buf, strings.NewReader(testMessage), &msgauth.SignOptions{
		Domain: s.Domain, Selector: s.Selector, Signer: s.Key.Signer,
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		HeaderKeys:             []string{"From", "Subject"},
	})
	if err != nil {
		t.Fatalf("msgauth.Sign: %v", err)
	}
	forged := "From: Mallory <mallory@example.net>\r\n" + buf.String()
	mustVerify(t, []byte(forged), zone{}.add(t, s), 1)
}

func TestSignRejects(t *testing.T) {
	ed := signer(t, "ed25519", "example.test", "s1")
	good := []Signer{ed}
	mismatched := ed
	mismatched.Key = &Key{Algorithm: RSA, Bits: 2048, Signer: ed.Key.Signer}
	withDomain := func(d string) []Signer { s := ed; s.Domain = d; return []Signer{s} }
	withSelector := func(sel string) []Signer { s := ed; s.Selector = sel; return []Signer{s} }
	y2001 := func() time.Time { return time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) }

	tests := []struct {
		name      string
		msg       string
		signers   []Signer
		opts      SignOptions
		malformed bool // the error wraps ErrMalformedMessage
		errText   string
	}{
		{"LF line endings", "From: a@example.test\nSubject: s\n\nbody\n", good, SignOptions{}, true, "bare LF at byte 20"},
		{"one bare LF in the body", crlf("From: a@example.test\n\n") + "line one\nline two\r\n", good, SignOptions{}, true, "bare LF"},
		{"bare CR", crlf("From: a@example.test\n\n") + "a\rb\r\n", good, SignOptions{}, true, "bare CR"},
		{"CR at the end", crlf("From: a@example.test\n\nbody") + "\r", good, SignOptions{}, true, "bare CR"},
		{"LF-only and no signers", "From: a@example.test\n\nbody\n", nil, SignOptions{}, true, "bare LF"},
		{"no empty line", crlf("From: a@example.test\nSubject: s\n"), good, SignOptions{}, true, "no empty line"},
		{"no line break at all", "From: a@example.test", good, SignOptions{}, true, "no empty line"},
		{"empty message", "", good, SignOptions{}, true, "no empty line"},
		{"continuation first", crlf(" From: a@example.test\n\nbody\n"), good, SignOptions{}, true, "continuation"},
		{"line without colon", crlf("From: a@example.test\nnot a field\n\nbody\n"), good, SignOptions{}, true, "line 2 is not a header field"},
		{"empty field name", crlf("From: a@example.test\n: x\n\nbody\n"), good, SignOptions{}, true, "line 2 is not a header field"},
		{"space in field name", crlf("From: a@example.test\nX Y: x\n\nbody\n"), good, SignOptions{}, true, "line 2 is not a header field"},
		{"no From", crlf("Subject: s\n\nbody\n"), good, SignOptions{}, true, "0 From header fields"},
		{"empty header", crlf("\nbody\n"), good, SignOptions{}, true, "0 From header fields"},
		{"two From", crlf("From: a@example.test\nfrom: b@example.test\n\nbody\n"), good, SignOptions{}, true, "2 From header fields"},
		{"From only in the body", crlf("Subject: s\n\nFrom: a@example.test\n"), good, SignOptions{}, true, "0 From header fields"},
		{"nil key", testMessage, []Signer{{Domain: "example.test", Selector: "s1"}}, SignOptions{}, false, "no private key"},
		{"key does not match algorithm", testMessage, []Signer{mismatched}, SignOptions{}, false, "rsa key has a ed25519.PrivateKey signer"},
		{"empty domain", testMessage, withDomain(""), SignOptions{}, false, "invalid signing domain"},
		{"domain with semicolon", testMessage, withDomain("example.test; x=1"), SignOptions{}, false, "invalid signing domain"},
		{"domain with trailing dot", testMessage, withDomain("example.test."), SignOptions{}, false, "invalid signing domain"},
		{"unicode domain", testMessage, withDomain("bücher.example"), SignOptions{}, false, "invalid signing domain"},
		{"empty selector", testMessage, withSelector(""), SignOptions{}, false, "invalid selector"},
		{"selector with semicolon", testMessage, withSelector("s1;x=1"), SignOptions{}, false, "invalid selector"},
		{"negative expiration", testMessage, good, SignOptions{Expiration: -time.Hour}, false, "negative expiration"},
		{"expiration within the signing second", testMessage, good, SignOptions{Now: y2001, Expiration: 500 * time.Millisecond}, false, "expiration 2001-01-01T00:00:00Z is not after the signing time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Sign([]byte(tt.msg), tt.signers, tt.opts)
			if err == nil {
				t.Fatalf("Sign succeeded:\n%s", out)
			}
			if got := errors.Is(err, ErrMalformedMessage); got != tt.malformed {
				t.Errorf("errors.Is(err, ErrMalformedMessage) = %v; want %v (err: %v)", got, tt.malformed, err)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not contain %q", err, tt.errText)
			}
		})
	}
}

func TestSignNoSigners(t *testing.T) {
	out, err := Sign([]byte(testMessage), nil, SignOptions{})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if string(out) != testMessage {
		t.Errorf("Sign with no signers changed the message:\n%s", out)
	}
}

func TestSignEmptyBody(t *testing.T) {
	s := signer(t, "rsa1024", "example.test", "s1")
	for _, msg := range []string{"From: a@example.test\r\n\r\n", "From: a@example.test\r\n\r\n\r\n\r\n"} {
		signed, err := Sign([]byte(msg), []Signer{s}, SignOptions{})
		if err != nil {
			t.Fatalf("Sign(%q): %v", msg, err)
		}
		mustVerify(t, signed, zone{}.add(t, s), 1)
	}
}

// TestSignExpiration shows that Now sets both t= and x= = Now()+Expiration.
func TestSignExpiration(t *testing.T) {
	s := signer(t, "ed25519", "example.test", "s1")
	fixed := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	signed, err := Sign([]byte(testMessage), []Signer{s}, SignOptions{
		Now:        func() time.Time { return fixed },
		Expiration: 24 * time.Hour,
	})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	tags := sigTags(t, signed)[0]
	if want := strconv.FormatInt(fixed.Add(24*time.Hour).Unix(), 10); tags["x"] != want {
		t.Errorf("x=%s; want %s", tags["x"], want)
	}
	if want := strconv.FormatInt(fixed.Unix(), 10); tags["t"] != want {
		t.Errorf("t=%s; want %s (Now)", tags["t"], want)
	}
	mustVerify(t, signed, zone{}.add(t, s), 1)

	// A signature that has expired by the time it is checked fails.
	synctest.Test(t, func(t *testing.T) {
		signed, err := Sign([]byte(testMessage), []Signer{s}, SignOptions{Expiration: time.Hour})
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		mustVerify(t, signed, zone{}.add(t, s), 1)
		time.Sleep(time.Hour + time.Second)
		verifs := verify(t, signed, zone{}.add(t, s))
		if len(verifs) != 1 || verifs[0].Err == nil || !strings.Contains(verifs[0].Err.Error(), "expired") {
			t.Errorf("after expiry: %v; want one expired signature", verifs)
		}
	})
}

// goldenKeys are fixed keys for the golden files, from testdata.
func goldenKeys(t *testing.T) map[string]*Key {
	t.Helper()
	keys := map[string]*Key{}
	for _, name := range []string{"rsa2048", "ed25519"} {
		pemText, err := os.ReadFile(filepath.Join("testdata", name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParsePrivate(decodePEM(t, pemText))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		keys[name] = k
	}
	return keys
}

func decodePEM(t *testing.T, text []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(text)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}

// TestSignGolden pins the exact signed bytes. Signing runs in a synctest
// bubble, whose clock starts at 2000-01-01T00:00:00Z: the files were
// recorded that way with go-msgauth's signer (whose clock cannot be
// injected), which Sign used before it computed signatures itself. RSA
// PKCS#1 v1.5 and Ed25519 signatures are deterministic, so the rest
// follows.
// Each file under testdata/golden holds the input message and the expected
// output, with LF line endings (CRLF on the wire). Run with -update to
// rewrite the outputs.
func TestSignGolden(t *testing.T) {
	keys := goldenKeys(t)
	tests := []struct {
		file    string
		signers []Signer
		opts    SignOptions
	}{
		{"rsa2048.txt", []Signer{{"example.test", "rsa2048", keys["rsa2048"]}}, SignOptions{}},
		{"ed25519.txt", []Signer{{"example.test", "ed25519", keys["ed25519"]}}, SignOptions{}},
		{"rsa2048-ed25519.txt", []Signer{{"example.test", "rsa2048", keys["rsa2048"]}, {"example.test", "ed25519", keys["ed25519"]}},
			SignOptions{Expiration: 72 * time.Hour}},
		{"folded.txt", []Signer{{"example.test", "rsa2048", keys["rsa2048"]}, {"example.test", "ed25519", keys["ed25519"]}}, SignOptions{}},
		{"folded-longdomain.txt", []Signer{{longDomain, "rsa2048-with-a-long-selector", keys["rsa2048"]}, {longDomain, "ed25519", keys["ed25519"]}},
			SignOptions{Expiration: time.Hour}},
		{"emptybody.txt", []Signer{{"example.test", "rsa2048", keys["rsa2048"]}, {"example.test", "ed25519", keys["ed25519"]}}, SignOptions{}},
		{"blankbody.txt", []Signer{{"example.test", "ed25519", keys["ed25519"]}}, SignOptions{}},
		{"nocrlf.txt", []Signer{{"example.test", "rsa2048", keys["rsa2048"]}}, SignOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", tt.file)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := parseGolden(string(raw))
			if !ok {
				t.Fatalf("%s: want sections %q and %q", path, goldenInput, goldenOutput)
			}
			synctest.Test(t, func(t *testing.T) {
				signed, err := Sign([]byte(crlf(in)), tt.signers, tt.opts)
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				for _, tags := range sigTags(t, signed) {
					if tags["t"] != "946684800" {
						t.Errorf("t=%s; want 946684800 (2000-01-01T00:00:00Z, the bubble's clock)", tags["t"])
					}
				}
				mustVerify(t, signed, zone{}.add(t, tt.signers...), len(tt.signers))
				got := strings.ReplaceAll(string(signed), "\r\n", "\n")
				if *update {
					if err := os.WriteFile(path, []byte(goldenInput+in+goldenOutput+got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				if got != want {
					t.Errorf("signed message differs from %s (run with -update to accept)\ngot:\n%s\nwant:\n%s", path, got, want)
				}
			})
		})
	}
}

// longDomain is a d= long enough that the signature's tag lines fold
// differently.
const longDomain = "a-rather-long-subdomain-name-to-fold-the-signature.mail.example.test"

const (
	goldenInput  = "-- input --\n"
	goldenOutput = "-- output --\n"
)

func parseGolden(s string) (in, out string, ok bool) {
	rest, ok := strings.CutPrefix(s, goldenInput)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, goldenOutput)
}

// FuzzSign checks that whatever Sign accepts, it signs so that the
// signature verifies, and that it never panics.
func FuzzSign(f *testing.F) {
	f.Add([]byte(testMessage))
	f.Add([]byte("From: a@example.test\r\n\r\n"))
	f.Add([]byte("From : a\r\n\tb\r\nSubject:\r\n\r\n \r\n\t\r\n"))
	f.Add([]byte("DKIM-Signature: v=1; junk\r\nFrom: a@example.test\r\nTo: x\r\nTo: y\r\n\r\nbody"))
	f.Add([]byte("From: a@example.test\nSubject: s\n\nbody\n"))
	k, err := Generate(Ed25519, 0)
	if err != nil {
		f.Fatal(err)
	}
	s := Signer{Domain: "example.test", Selector: "fuzz", Key: k}
	z := zone{}.add(f, s)
	f.Fuzz(func(t *testing.T, msg []byte) {
		signed, err := Sign(msg, []Signer{s}, SignOptions{})
		if err != nil {
			if !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("Sign: unexpected error kind: %v", err)
			}
			return
		}
		if !bytes.HasSuffix(signed, msg) {
			t.Fatal("signed message does not end with the input")
		}
		verifs := verify(t, signed, z)
		if len(verifs) == 0 || verifs[0].Err != nil || verifs[0].Domain != s.Domain {
			t.Fatalf("our signature does not verify: %+v\n%q", verifs, signed)
		}
	})
}

// message4K returns a realistic 4096-byte message.
func message4K() []byte {
	var b strings.Builder
	b.WriteString(crlf(`From: Alice <alice@example.test>
To: Bob <bob@example.org>
Subject: Your weekly report
Date: Mon, 02 Jan 2006 15:04:05 +0000
Message-ID: <0101019c0f7e3a5b-4f2c9a0e-1d2b-4c3e-9f8a-7b6c5d4e3f2a-000000@eu-west-1.example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

`))
	line := "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
	for b.Len()+len(line) <= 4096 {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("x", 4096-b.Len()-2) + "\r\n")
	return []byte(b.String())
}

func benchSign(b *testing.B, signers []Signer) {
	msg := message4K()
	if len(msg) != 4096 {
		b.Fatalf("message is %d bytes", len(msg))
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	n := 0
	cpu0 := processCPU(b)
	for b.Loop() {
		if _, err := Sign(msg, signers, SignOptions{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	reportCPU(b, cpu0, n)
}

// processCPU returns the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per operation since cpu0: the
// cost of a signature even when other processes share the cores and make
// ns/op (wall time) meaningless.
func reportCPU(b *testing.B, cpu0 time.Duration, n int) {
	if n > 0 {
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(n)/1e3, "cpu-µs/op")
	}
}

func benchKey(b *testing.B, alg Algorithm, bits int) *Key {
	b.Helper()
	k, err := Generate(alg, bits)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// BenchmarkSignRSA2048 is the cost of the one signature most messages
// get: a 4 KB message, RSA-2048, on one goroutine.
func BenchmarkSignRSA2048(b *testing.B) {
	benchSign(b, []Signer{{"example.test", "rsa", benchKey(b, RSA, 2048)}})
}

// BenchmarkRSA2048Baseline is the RSA-2048 private-key operation alone,
// with the build's backend, without hashing or canonicalising the message:
// what BenchmarkSignRSA2048 costs beyond it is Sign's own work.
func BenchmarkRSA2048Baseline(b *testing.B) {
	k := benchKey(b, RSA, 2048)
	digest := sha256.Sum256(message4K())
	r, err := k.rsaSigner()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	cpu0 := processCPU(b)
	for b.Loop() {
		if _, err := r.signSHA256(digest[:]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, cpu0, n)
}

// BenchmarkSignEd25519 is the same with an Ed25519 key.
func BenchmarkSignEd25519(b *testing.B) {
	benchSign(b, []Signer{{"example.test", "ed", benchKey(b, Ed25519, 0)}})
}

// BenchmarkSignRSA2048Ed25519 is an Easy DKIM identity with both keys.
func BenchmarkSignRSA2048Ed25519(b *testing.B) {
	benchSign(b, []Signer{{"example.test", "rsa", benchKey(b, RSA, 2048)}, {"example.test", "ed", benchKey(b, Ed25519, 0)}})
}

// BenchmarkSignRSA2048Parallel signs on every P at once: the ceiling of
// signing throughput on this machine.
func BenchmarkSignRSA2048Parallel(b *testing.B) {
	signers := []Signer{{"example.test", "rsa", benchKey(b, RSA, 2048)}}
	msg := message4K()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	start := time.Now()
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Sign(msg, signers, SignOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	reportCPU(b, cpu0, b.N)
}
