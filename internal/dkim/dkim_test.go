//go:debug rsa1024min=0

// The directive above lets the tests generate a 512-bit RSA key, to check
// that ParseBYODKIM rejects it.

package dkim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
)

// rsaKey returns an RSA key of the given size, generated once per test
// binary (4096-bit generation is slow).
func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	rsaKeysMu.Lock()
	defer rsaKeysMu.Unlock()
	if k, ok := rsaKeys[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("generate %d-bit RSA key: %v", bits, err)
	}
	rsaKeys[bits] = k
	return k
}

var (
	rsaKeysMu sync.Mutex
	rsaKeys   = map[int]*rsa.PrivateKey{}
)

func TestGenerate(t *testing.T) {
	tests := []struct {
		name     string
		alg      Algorithm
		bits     int
		wantBits int
		wantErr  bool
	}{
		{"rsa 1024", RSA, 1024, 1024, false},
		{"rsa 2048", RSA, 2048, 2048, false},
		{"ed25519", Ed25519, 0, 256, false},
		{"ed25519 ignores bits", Ed25519, 2048, 256, false},
		{"rsa 512", RSA, 512, 0, true},
		{"rsa 1536", RSA, 1536, 0, true},
		{"rsa 4096", RSA, 4096, 0, true},
		{"rsa 0", RSA, 0, 0, true},
		{"rsa negative", RSA, -1, 0, true},
		{"unknown algorithm", Algorithm("ecdsa"), 256, 0, true},
		{"empty algorithm", Algorithm(""), 2048, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Generate(tt.alg, tt.bits)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Generate(%q, %d) = %+v, nil; want error", tt.alg, tt.bits, k)
				}
				if !strings.HasPrefix(err.Error(), "dkim: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Generate(%q, %d): %v", tt.alg, tt.bits, err)
			}
			if k.Algorithm != tt.alg || k.Bits != tt.wantBits {
				t.Errorf("got Algorithm %q Bits %d; want %q %d", k.Algorithm, k.Bits, tt.alg, tt.wantBits)
			}
			switch s := k.Signer.(type) {
			case *rsa.PrivateKey:
				if tt.alg != RSA || s.N.BitLen() != tt.bits {
					t.Errorf("Signer is a %d-bit RSA key", s.N.BitLen())
				}
			case ed25519.PrivateKey:
				if tt.alg != Ed25519 {
					t.Errorf("Signer is Ed25519 for %q", tt.alg)
				}
			default:
				t.Errorf("Signer has type %T", s)
			}
		})
	}
}

// testKeys returns one key of each supported kind, generated once.
func testKeys(t *testing.T) map[string]*Key {
	t.Helper()
	testKeysOnce.Do(func() {
		testKeysVal = map[string]*Key{}
		for _, c := range []struct {
			name string
			alg  Algorithm
			bits int
		}{{"rsa1024", RSA, 1024}, {"rsa2048", RSA, 2048}, {"ed25519", Ed25519, 0}} {
			k, err := Generate(c.alg, c.bits)
			if err != nil {
				testKeysErr = err
				return
			}
			testKeysVal[c.name] = k
		}
	})
	if testKeysErr != nil {
		t.Fatalf("generate test keys: %v", testKeysErr)
	}
	return testKeysVal
}

var (
	testKeysOnce sync.Once
	testKeysVal  map[string]*Key
	testKeysErr  error
)

func TestMarshalParseRoundTrip(t *testing.T) {
	for name, k := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			der, err := k.MarshalPrivate()
			if err != nil {
				t.Fatalf("MarshalPrivate: %v", err)
			}
			if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
				t.Fatalf("MarshalPrivate output is not PKCS#8: %v", err)
			}
			got, err := ParsePrivate(der)
			if err != nil {
				t.Fatalf("ParsePrivate: %v", err)
			}
			assertSameKey(t, got, k)
		})
	}
}

func assertSameKey(t *testing.T, got, want *Key) {
	t.Helper()
	if got.Algorithm != want.Algorithm || got.Bits != want.Bits {
		t.Errorf("got %q/%d; want %q/%d", got.Algorithm, got.Bits, want.Algorithm, want.Bits)
	}
	type equaler interface{ Equal(crypto.PrivateKey) bool }
	if !want.Signer.(equaler).Equal(got.Signer) {
		t.Errorf("parsed private key differs from the original")
	}
}

func TestParsePrivate(t *testing.T) {
	rsa1024 := rsaKey(t, 1024)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPKCS8, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("pkcs1", func(t *testing.T) {
		k, err := ParsePrivate(x509.MarshalPKCS1PrivateKey(rsa1024))
		if err != nil {
			t.Fatalf("ParsePrivate(PKCS#1): %v", err)
		}
		assertSameKey(t, k, &Key{Algorithm: RSA, Bits: 1024, Signer: rsa1024})
	})
	for _, tt := range []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"garbage", []byte("not a key at all")},
		{"ecdsa pkcs8", ecPKCS8},
		{"truncated pkcs1", x509.MarshalPKCS1PrivateKey(rsa1024)[:100]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := ParsePrivate(tt.der); err == nil {
				t.Fatalf("ParsePrivate = %+v, nil; want error", k)
			} else if !strings.HasPrefix(err.Error(), "dkim: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestKeyMismatch(t *testing.T) {
	ed := testKeys(t)["ed25519"]
	bad := []struct {
		name string
		key  *Key
	}{
		{"nil key", nil},
		{"nil signer", &Key{Algorithm: RSA, Bits: 2048}},
		{"rsa alg, ed25519 signer", &Key{Algorithm: RSA, Bits: 2048, Signer: ed.Signer}},
		{"unknown alg", &Key{Algorithm: "dsa", Signer: ed.Signer}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.key.MarshalPrivate(); err == nil {
				t.Error("MarshalPrivate succeeded")
			}
			if _, err := tt.key.PublicKeyBase64(); err == nil {
				t.Error("PublicKeyBase64 succeeded")
			}
			if _, err := tt.key.Record(); err == nil {
				t.Error("Record succeeded")
			}
		})
	}
}

// TestPublicKeyForm checks the p= value and the record text, and that a
// signature made with the key verifies with the public key read back from
// the record. (interop_test.go does the same through go-msgauth.)
func TestPublicKeyForm(t *testing.T) {
	for name, k := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			p, err := k.PublicKeyBase64()
			if err != nil {
				t.Fatalf("PublicKeyBase64: %v", err)
			}
			rec, err := k.Record()
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
			if want := "v=DKIM1; k=" + string(k.Algorithm) + "; p=" + p; rec != want {
				t.Errorf("Record() = %q; want %q", rec, want)
			}
			tags, err := ParseRecord(strings.Join(SplitTXT(rec), ""))
			if err != nil {
				t.Fatalf("ParseRecord(Record()): %v", err)
			}
			if tags["p"] != p || tags["k"] != string(k.Algorithm) || tags["v"] != "DKIM1" {
				t.Errorf("ParseRecord(Record()) = %v", tags)
			}
			raw, err := base64.StdEncoding.DecodeString(p)
			if err != nil {
				t.Fatalf("p= is not base64: %v", err)
			}

			msg := []byte("message to sign")
			digest := sha256.Sum256(msg)
			switch k.Algorithm {
			case RSA:
				pub, err := x509.ParsePKIXPublicKey(raw)
				if err != nil {
					t.Fatalf("p= is not SubjectPublicKeyInfo: %v", err)
				}
				sig, err := k.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
					t.Errorf("signature does not verify with p=: %v", err)
				}
			case Ed25519:
				if len(raw) != ed25519.PublicKeySize {
					t.Fatalf("p= is %d bytes; want %d", len(raw), ed25519.PublicKeySize)
				}
				// RFC 8463 signs the SHA-256 digest with pure Ed25519.
				sig, err := k.Signer.Sign(rand.Reader, digest[:], crypto.Hash(0))
				if err != nil {
					t.Fatal(err)
				}
				if !ed25519.Verify(ed25519.PublicKey(raw), digest[:], sig) {
					t.Error("signature does not verify with p=")
				}
			}
		})
	}
}

func TestSplitTXT(t *testing.T) {
	long := strings.Repeat("a", 255) + strings.Repeat("b", 255) + "c"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", []string{""}},
		{"short", "v=DKIM1; p=", []string{"v=DKIM1; p="}},
		{"exactly 255", strings.Repeat("x", 255), []string{strings.Repeat("x", 255)}},
		{"256", strings.Repeat("x", 256), []string{strings.Repeat("x", 255), "x"}},
		{"511", long, []string{strings.Repeat("a", 255), strings.Repeat("b", 255), "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitTXT(tt.in)
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") || len(got) != len(tt.want) {
				t.Errorf("SplitTXT: got %d parts %q; want %q", len(got), got, tt.want)
			}
		})
	}
	// The record of a 2048-bit key needs two strings.
	rec, err := testKeys(t)["rsa2048"].Record()
	if err != nil {
		t.Fatal(err)
	}
	parts := SplitTXT(rec)
	if len(parts) < 2 || strings.Join(parts, "") != rec {
		t.Errorf("SplitTXT(2048-bit record) = %d parts, rejoin equal: %v", len(parts), strings.Join(parts, "") == rec)
	}
	for i, p := range parts {
		if len(p) > 255 {
			t.Errorf("part %d is %d bytes", i, len(p))
		}
	}
}

// pkcs8 returns the PKCS#8 DER of priv.
func pkcs8(t testing.TB, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatalf("MarshalPKCS8PrivateKey: %v", err)
	}
	return der
}

func b64(der []byte) string { return base64.StdEncoding.EncodeToString(der) }

// pemText returns PEM armour around der, with 64-character lines.
func pemText(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParseBYODKIMAccepts(t *testing.T) {
	rsa1024, rsa2048 := rsaKey(t, 1024), rsaKey(t, 2048)
	p1 := x509.MarshalPKCS1PrivateKey(rsa2048)
	tests := []struct {
		name string
		in   string
		key  *rsa.PrivateKey
	}{
		{"pkcs1 1024", b64(x509.MarshalPKCS1PrivateKey(rsa1024)), rsa1024},
		{"pkcs1 2048", b64(p1), rsa2048},
		{"pkcs8 1024", b64(pkcs8(t, rsa1024)), rsa1024},
		{"pkcs8 2048", b64(pkcs8(t, rsa2048)), rsa2048},
		{"pem pkcs1", pemText("RSA PRIVATE KEY", p1), rsa2048},
		{"pem pkcs8", pemText("PRIVATE KEY", pkcs8(t, rsa1024)), rsa1024},
		{"pem crlf", strings.ReplaceAll(pemText("RSA PRIVATE KEY", p1), "\n", "\r\n"), rsa2048},
		{"pem on one line", strings.ReplaceAll(pemText("RSA PRIVATE KEY", p1), "\n", " "), rsa2048},
		{"pem indented", "  " + strings.ReplaceAll(pemText("PRIVATE KEY", pkcs8(t, rsa1024)), "\n", "\n\t"), rsa1024},
		{"newlines without armour", strings.Join(SplitTXT(b64(p1)), "\n"), rsa2048},
		{"padding stripped", strings.TrimRight(b64(p1), "="), rsa2048},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseBYODKIM(tt.in)
			if err != nil {
				t.Fatalf("ParseBYODKIM: %v", err)
			}
			assertSameKey(t, k, &Key{Algorithm: RSA, Bits: tt.key.N.BitLen(), Signer: tt.key})
		})
	}
}

func TestParseBYODKIMRejects(t *testing.T) {
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecSEC1, err := x509.MarshalECPrivateKey(ecPriv)
	if err != nil {
		t.Fatal(err)
	}
	rsa512, rsa4096 := rsaKey(t, 512), rsaKey(t, 4096)
	pub2048, err := x509.MarshalPKIXPublicKey(&rsaKey(t, 2048).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p1 := b64(x509.MarshalPKCS1PrivateKey(rsaKey(t, 1024)))

	tests := []struct {
		name    string
		in      string
		wantMsg string // substring of the KeyError message
	}{
		{"empty", "", "must not be empty"},
		{"only whitespace", " \n\t", "must not be empty"},
		{"only armour", "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n", "must not be empty"},
		{"too long", strings.Repeat("A", 20484), "the maximum is 20480"},
		{"not base64", "this is not base64!", "^[a-zA-Z0-9+/]+={0,2}$"},
		{"url-safe base64", strings.NewReplacer("+", "-", "/", "_").Replace(b64(pkcs8(t, rsa4096))), "^[a-zA-Z0-9+/]+={0,2}$"},
		{"three padding", "QUJD===", "^[a-zA-Z0-9+/]+={0,2}$"},
		{"padding in middle", "QQ==QUJD", "^[a-zA-Z0-9+/]+={0,2}$"},
		{"only padding", "==", "^[a-zA-Z0-9+/]+={0,2}$"},
		{"impossible length", "A", "not valid base64"},
		{"base64 of garbage", b64([]byte("this is not a DER private key")), "RSA private key in DER form (PKCS#1 or PKCS#8)"},
		{"base64 of public key", b64(pub2048), "RSA private key in DER form (PKCS#1 or PKCS#8)"},
		{"truncated key", p1[:len(p1)/2], "RSA private key in DER form (PKCS#1 or PKCS#8)"},
		{"encrypted pem", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF\n\n" + p1 + "\n-----END RSA PRIVATE KEY-----\n", "^[a-zA-Z0-9+/]+={0,2}$"},
		{"unterminated armour", "-----BEGIN RSA PRIVATE KEY\n" + p1, "^[a-zA-Z0-9+/]+={0,2}$"},
		{"512-bit pkcs1", b64(x509.MarshalPKCS1PrivateKey(rsa512)), "is 512 bits; the minimum is 1024"},
		{"512-bit pkcs8", b64(pkcs8(t, rsa512)), "is 512 bits; the minimum is 1024"},
		{"4096-bit pkcs1", b64(x509.MarshalPKCS1PrivateKey(rsa4096)), "is 4096 bits; the maximum is 2048"},
		{"4096-bit pkcs8 pem", pemText("PRIVATE KEY", pkcs8(t, rsa4096)), "is 4096 bits; the maximum is 2048"},
		{"ed25519 pkcs8", b64(pkcs8(t, edPriv)), "is an Ed25519 key; only RSA keys are supported"},
		{"ecdsa pkcs8", b64(pkcs8(t, ecPriv)), "is an ECDSA key; only RSA keys are supported"},
		{"ecdsa sec1", b64(ecSEC1), "is an ECDSA key; only RSA keys are supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseBYODKIM(tt.in)
			if err == nil {
				t.Fatalf("ParseBYODKIM = %+v, nil; want error", k)
			}
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v (%T) is not a *KeyError", err, err)
			}
			if ke.Error() != ke.Msg {
				t.Errorf("Error() = %q; Msg = %q", ke.Error(), ke.Msg)
			}
			if !strings.HasPrefix(ke.Msg, "DomainSigningPrivateKey ") {
				t.Errorf("message %q does not name DomainSigningPrivateKey", ke.Msg)
			}
			if !strings.Contains(ke.Msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", ke.Msg, tt.wantMsg)
			}
		})
	}
}

func TestValidSelector(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"s1", true},
		{"a", true},
		{"9", true},
		{"default", true},
		{"Selector-2024-01", true},
		{"a-b", true},
		{"a--b", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-a", false},
		{"a-", false},
		{"-", false},
		{"a_b", false},
		{"a.b", false},
		{"a b", false},
		{"sél", false},
		{"s1\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ValidSelector(tt.in); got != tt.want {
				t.Errorf("ValidSelector(%q) = %v; want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"rsa", "v=DKIM1; k=rsa; p=MIGfMA0G", map[string]string{"v": "DKIM1", "k": "rsa", "p": "MIGfMA0G"}, false},
		{"ed25519", "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
			map[string]string{"v": "DKIM1", "k": "ed25519", "p": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}, false},
		{"no spaces", "v=DKIM1;k=rsa;p=AB", map[string]string{"v": "DKIM1", "k": "rsa", "p": "AB"}, false},
		{"extra whitespace", "  v = DKIM1 ;\tk=rsa ;  p = AB CD\r\n EF  ", map[string]string{"v": "DKIM1", "k": "rsa", "p": "ABCDEF"}, false},
		{"trailing semicolon", "v=DKIM1; p=AB;", map[string]string{"v": "DKIM1", "p": "AB"}, false},
		{"empty elements", ";v=DKIM1;; ;p=AB", map[string]string{"v": "DKIM1", "p": "AB"}, false},
		{"revoked key", "v=DKIM1; p=", map[string]string{"v": "DKIM1", "p": ""}, false},
		{"other tags kept", "v=DKIM1; h=sha256; t=y:s; n=a note; s=email; p=AB",
			map[string]string{"v": "DKIM1", "h": "sha256", "t": "y:s", "n": "a note", "s": "email", "p": "AB"}, false},
		{"value containing =", "p=QUI=; n=a=b", map[string]string{"p": "QUI=", "n": "a=b"}, false},
		{"inner space kept outside p", "n=two words", map[string]string{"n": "two words"}, false},
		{"tag name with digit and underscore", "x_1=y", map[string]string{"x_1": "y"}, false},
		{"empty", "", nil, true},
		{"blank", "  ; ;", nil, true},
		{"no equals", "v=DKIM1; rsa", nil, true},
		{"empty tag name", "v=DKIM1; =rsa", nil, true},
		{"tag name starts with digit", "1k=rsa", nil, true},
		{"tag name with space", "k k=rsa", nil, true},
		{"duplicate tag", "v=DKIM1; p=AB; p=CD", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecord(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseRecord(%q) = %v, nil; want error", tt.in, got)
				}
				if !strings.HasPrefix(err.Error(), "dkim: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecord(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("ParseRecord(%q) = %q; want %q", tt.in, got, tt.want)
			}
			for k, v := range tt.want {
				if gv, ok := got[k]; !ok || gv != v {
					t.Errorf("ParseRecord(%q)[%q] = %q, %v; want %q", tt.in, k, gv, ok, v)
				}
			}
		})
	}
}

func TestToken(t *testing.T) {
	seen := map[string]bool{}
	var counts [256]int
	for range 200 {
		tok := Token()
		if len(tok) != 32 {
			t.Fatalf("Token() = %q: length %d; want 32", tok, len(tok))
		}
		for _, c := range []byte(tok) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
				t.Fatalf("Token() = %q: character %q outside [a-z0-9]", tok, c)
			}
			counts[c]++
		}
		if seen[tok] {
			t.Fatalf("Token() repeated %q", tok)
		}
		seen[tok] = true
	}
	// 6400 characters over 36 symbols: each appears ~178 times; every
	// symbol must turn up (missing one has probability ~1e-76).
	for _, c := range []byte(tokenAlphabet) {
		if counts[c] == 0 {
			t.Errorf("character %q never appeared in 200 tokens", c)
		}
	}
}

func FuzzParseBYODKIM(f *testing.F) {
	f.Add("")
	f.Add("AAAA")
	f.Add("MIIBOgIBAAJBAK==")
	f.Add("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n")
	f.Add("-----BEGIN ----- -----END")
	f.Add(b64(x509.MarshalPKCS1PrivateKey(rsaKey(f, 1024))))
	f.Add(b64(pkcs8(f, rsaKey(f, 1024))))
	f.Add(pemText("PRIVATE KEY", pkcs8(f, rsaKey(f, 1024))))
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseBYODKIM(in)
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) || k != nil {
				t.Fatalf("ParseBYODKIM(%q) = %v, %v (%T)", in, k, err, err)
			}
			return
		}
		if k.Algorithm != RSA || k.Bits < 1024 || k.Bits > 2048 {
			t.Fatalf("ParseBYODKIM(%q) accepted %q/%d", in, k.Algorithm, k.Bits)
		}
		der, err := k.MarshalPrivate()
		if err != nil {
			t.Fatalf("MarshalPrivate of accepted key: %v", err)
		}
		again, err := ParsePrivate(der)
		if err != nil || again.Bits != k.Bits {
			t.Fatalf("stored form does not round-trip: %v", err)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	f.Add("v=DKIM1; k=rsa; p=MIGfMA0G")
	f.Add(" v = DKIM1 ;; p = AB CD ;")
	f.Add("=;=")
	f.Add("p=AB; p=CD")
	f.Add("x_1=y\r\n\t")
	f.Fuzz(func(t *testing.T, in string) {
		tags, err := ParseRecord(in)
		if err != nil {
			if tags != nil {
				t.Fatalf("ParseRecord(%q) returned tags with error %v", in, err)
			}
			return
		}
		if len(tags) == 0 {
			t.Fatalf("ParseRecord(%q) returned no tags and no error", in)
		}
		for name, value := range tags {
			if !validTagName(name) {
				t.Fatalf("ParseRecord(%q) returned invalid tag name %q", in, name)
			}
			if strings.ContainsRune(value, ';') || value != strings.Trim(value, wsp) {
				t.Fatalf("ParseRecord(%q)[%q] = %q: untrimmed or contains ';'", in, name, value)
			}
		}
		if p, ok := tags["p"]; ok && strings.ContainsAny(p, wsp) {
			t.Fatalf("ParseRecord(%q): p=%q contains whitespace", in, p)
		}
	})
}
