package unsub

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/linktoken"
)

func testCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testToken() Token {
	return Token{AccountID: "acct1", ContactList: "customers", Topic: "news", Address: "Bob@Example.test",
		ConfigurationSet: "cs", MessageID: "0100019a1b2c3d4e-2c3d4e5f-6a7b-4c8d-8e9f-0a1b2c3d4e5f-000000", Issued: time.Unix(1767236645, 0).UTC()}
}

// TestTokenRoundTrip: both forms read back exactly what was issued, the
// mail form in any case; the URL form is URL-safe.
func TestTokenRoundTrip(t *testing.T) {
	c := testCodec(t)
	for _, tok := range []Token{testToken(), {AccountID: "a", ContactList: "l", Address: "x@y.test", MessageID: "m", Issued: time.Unix(0, 0).UTC()}} {
		s := c.Encode(tok)
		if strings.ContainsAny(s, "+/=%?&# ") {
			t.Errorf("token %q is not URL-safe", s)
		}
		got, err := c.Decode(s)
		if err != nil || got != tok {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v", tok, got, err)
		}
		m := c.EncodeMail(tok)
		for _, v := range []string{m, strings.ToUpper(m)} {
			if got, err := c.DecodeMail(v); err != nil || got != tok {
				t.Errorf("DecodeMail(%q) = %+v, %v", v, got, err)
			}
		}
		if _, err := c.Decode(m); err == nil {
			t.Errorf("the mail form read as a URL token")
		}
	}
}

// TestTokenTampered: changing any field (another address, list, topic,
// account, configuration set or message), any single bit, truncating or
// extending the token, or signing with another deployment's key gives
// ErrBadToken.
func TestTokenTampered(t *testing.T) {
	c := testCodec(t)
	orig := testToken()
	good := c.binary(orig)
	// A field changed, the MAC kept: what someone swapping an address,
	// list or account in a token they hold would make.
	for name, edit := range map[string]func(*Token){
		"address": func(t *Token) { t.Address = "carol@example.test" },
		"list":    func(t *Token) { t.ContactList = "other" },
		"topic":   func(t *Token) { t.Topic = "" },
		"account": func(t *Token) { t.AccountID = "acct2" },
		"set":     func(t *Token) { t.ConfigurationSet = "" },
		"message": func(t *Token) { t.MessageID = "x" },
		"issued":  func(t *Token) { t.Issued = t.Issued.Add(time.Second) },
	} {
		tok := orig
		edit(&tok)
		b := c.binary(tok)
		swapped := append(b[:len(b)-linktoken.MACLen:len(b)-linktoken.MACLen], good[len(good)-linktoken.MACLen:]...)
		if _, err := c.Decode(urlEncoding.EncodeToString(swapped)); err != ErrBadToken {
			t.Errorf("%s changed: %v", name, err)
		}
	}
	for i := range len(good) * 8 {
		b := bytes.Clone(good)
		b[i/8] ^= 1 << (i % 8)
		if _, err := c.Decode(urlEncoding.EncodeToString(b)); err != ErrBadToken {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
	for _, b := range [][]byte{good[:len(good)-1], append(bytes.Clone(good), 0), nil, good[:linktoken.MACLen]} {
		if _, err := c.Decode(urlEncoding.EncodeToString(b)); err != ErrBadToken {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	other, _ := NewCodec(key)
	if _, err := other.Decode(c.Encode(orig)); err != ErrBadToken {
		t.Errorf("another key: %v", err)
	}
	for _, s := range []string{"", "!!!", strings.Repeat("A", MaxTokenLen+1), c.Encode(orig) + "A"} {
		if _, err := c.Decode(s); err != ErrBadToken {
			t.Errorf("Decode(%.20q): %v", s, err)
		}
	}
}

// FuzzDecode: any text decodes without a panic; a token the fuzzer did
// not get from Encode is refused (it would have to forge a 128-bit MAC),
// and one it did reads back to what was encoded.
func FuzzDecode(f *testing.F) {
	c := testCodec(f)
	f.Add(c.Encode(testToken()))
	f.Add(c.EncodeMail(testToken()))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := c.Decode(s)
		if err == nil && c.Encode(tok) != s {
			t.Fatalf("%q decoded to %+v, which encodes differently", s, tok)
		}
		// base32 ignores a last character's unused bits, so the mail
		// form may have several spellings; each reads the same token.
		tok, err = c.DecodeMail(s)
		if err == nil {
			if got, err := c.DecodeMail(c.EncodeMail(tok)); err != nil || got != tok {
				t.Fatalf("%q decoded (mail) to %+v, which does not read back: %+v, %v", s, tok, got, err)
			}
		}
		// Whatever was read, a token made from it reads back.
		if err == nil {
			if got, err := c.Decode(c.Encode(tok)); err != nil || got != tok {
				t.Fatalf("round trip of %+v: %+v, %v", tok, got, err)
			}
		}
	})
}
