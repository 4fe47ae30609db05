package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func newBox(t testing.TB, secret string) *Box {
	t.Helper()
	b, err := New(secret)
	if err != nil {
		t.Fatalf("New(%q): %v", secret, err)
	}
	return b
}

func TestNewEmptySecret(t *testing.T) {
	if b, err := New(""); err == nil {
		t.Fatalf("New(\"\") = %v, nil; want error", b)
	}
}

func TestRoundTrip(t *testing.T) {
	box := newBox(t, "correct horse battery staple")
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"empty plaintext", nil, []byte("dkim:abc")},
		{"nil aad", []byte("secret"), nil},
		{"dkim key", bytes.Repeat([]byte{0x30, 0x82}, 700), []byte("dkim:0123456789abcdefghijklmnopqrstuv")},
		{"access key", []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), []byte("key:AKIAIOSFODNN7EXAMPLE")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := box.Seal(tt.plaintext, tt.aad)
			if got, want := len(sealed), len(tt.plaintext)+Overhead; got != want {
				t.Errorf("len(sealed) = %d; want %d", got, want)
			}
			if sealed[0] != version {
				t.Errorf("sealed[0] = %d; want version %d", sealed[0], version)
			}
			if len(tt.plaintext) > 8 && bytes.Contains(sealed, tt.plaintext) {
				t.Errorf("sealed output contains the plaintext")
			}
			got, err := box.Open(sealed, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q; want %q", got, tt.plaintext)
			}
			// A second Box from the same secret (a restart) opens it too.
			got, err = newBox(t, "correct horse battery staple").Open(sealed, tt.aad)
			if err != nil || !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open with re-derived Box = %q, %v; want %q, nil", got, err, tt.plaintext)
			}
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	box := newBox(t, "s")
	a := box.Seal([]byte("same"), []byte("aad"))
	b := box.Seal([]byte("same"), []byte("aad"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical; nonce is not random")
	}
}

func TestOpenFails(t *testing.T) {
	box := newBox(t, "master secret one")
	plaintext := []byte("-----a private key-----")
	aad := []byte("dkim:token1")
	sealed := box.Seal(plaintext, aad)

	tamper := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}

	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		aad    []byte
	}{
		{"wrong key", newBox(t, "master secret two"), sealed, aad},
		{"wrong aad", box, sealed, []byte("dkim:token2")},
		{"nil aad instead of aad", box, sealed, nil},
		{"aad prefix", box, sealed, []byte("dkim:token")},
		{"tampered version", box, tamper(0), aad},
		{"tampered nonce", box, tamper(1), aad},
		{"tampered ciphertext", box, tamper(1 + nonceSize), aad},
		{"tampered tag", box, tamper(len(sealed) - 1), aad},
		{"truncated by one", box, sealed[:len(sealed)-1], aad},
		{"only header", box, sealed[:1+nonceSize], aad},
		{"shorter than overhead", box, sealed[:Overhead-1], aad},
		{"one byte", box, sealed[:1], aad},
		{"empty", box, nil, aad},
		{"extended", box, append(bytes.Clone(sealed), 0), aad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed, tt.aad)
			if err == nil {
				t.Fatalf("Open = %q, nil; want error", got)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open error %v does not wrap ErrCorrupt", err)
			}
			if got != nil {
				t.Errorf("Open returned data %q with an error", got)
			}
		})
	}
}

// TestOpenEveryTamperedByte flips each byte in turn; all must fail.
func TestOpenEveryTamperedByte(t *testing.T) {
	box := newBox(t, "k")
	sealed := box.Seal([]byte("secret"), []byte("aad"))
	for i := range sealed {
		c := bytes.Clone(sealed)
		c[i] ^= 0x80
		if _, err := box.Open(c, []byte("aad")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("byte %d flipped: Open error = %v; want ErrCorrupt", i, err)
		}
	}
	for n := range len(sealed) {
		if _, err := box.Open(sealed[:n], []byte("aad")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d bytes: Open error = %v; want ErrCorrupt", n, err)
		}
	}
}

func TestGenerateSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 10 {
		s := GenerateSecret()
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("GenerateSecret() = %q: not base64: %v", s, err)
		}
		if len(raw) != 32 {
			t.Errorf("GenerateSecret() decodes to %d bytes; want 32", len(raw))
		}
		if seen[s] {
			t.Errorf("GenerateSecret() repeated %q", s)
		}
		seen[s] = true
		if _, err := New(s); err != nil {
			t.Errorf("New(GenerateSecret()): %v", err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	box := newBox(f, "fuzz secret")
	f.Add(box.Seal([]byte("hello"), []byte("aad")), []byte("aad"))
	f.Add(box.Seal(nil, nil), []byte(nil))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{version}, []byte("x"))
	f.Add(bytes.Repeat([]byte{version}, Overhead), []byte("x"))
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		got, err := box.Open(sealed, aad)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Forging a valid value is infeasible, so success means the input
		// was a seed sealed with this box; it must round-trip.
		again, err := box.Open(box.Seal(got, aad), aad)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("re-sealed value did not round-trip: %q, %v", again, err)
		}
	})
}

func TestCheck(t *testing.T) {
	a, a2, b := newBox(t, "master secret one"), newBox(t, "master secret one"), newBox(t, "master secret two")
	if len(a.Check()) != 2*checkSize || a.Check() != a2.Check() {
		t.Fatalf("checks of one secret: %q, %q; want the same %d hex digits", a.Check(), a2.Check(), 2*checkSize)
	}
	if a.Check() == b.Check() || a.Matches(b.Check()) || !a.Matches(a2.Check()) {
		t.Fatalf("checks of two secrets: %q, %q", a.Check(), b.Check())
	}
	if a.Matches("") || a.Matches(a.Check()[:8]) {
		t.Fatal("a prefix of the check matches")
	}
	// Not the secret, and not a plain hash of it.
	sum := sha256.Sum256([]byte("master secret one"))
	if strings.Contains(a.Check(), "master") || strings.HasPrefix(hex.EncodeToString(sum[:]), a.Check()) {
		t.Fatalf("check %q reveals the secret", a.Check())
	}
}
