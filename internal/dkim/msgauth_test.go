package dkim

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// msgauthSignature is the DKIM-Signature field go-msgauth's own signer
// makes for msg with the options Sign uses, at go-msgauth's clock (call it
// in a synctest bubble to fix it).
func msgauthSignature(t testing.TB, msg []byte, s Signer, expiration time.Time) string {
	t.Helper()
	fields, _, err := parseMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := msgauth.NewSigner(&msgauth.SignOptions{
		Domain:                 s.Domain,
		Selector:               s.Selector,
		Signer:                 s.Key.Signer,
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		HeaderKeys:             headerKeys(fields),
		Expiration:             expiration,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := signer.Close(); err != nil {
		t.Fatal(err)
	}
	return signer.Signature()
}

// checkSameAsMsgauth signs msg with each of signers, alone, and fails
// unless Sign's field is byte for byte go-msgauth's.
func checkSameAsMsgauth(t *testing.T, msg []byte, signers []Signer, expiry time.Duration) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		var exp time.Time
		if expiry > 0 {
			exp = time.Now().Add(expiry)
		}
		for _, s := range signers {
			signed, err := Sign(msg, []Signer{s}, SignOptions{Expiration: expiry})
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			got := string(signed[:len(signed)-len(msg)])
			if want := msgauthSignature(t, msg, s, exp); got != want {
				t.Errorf("%s signature differs from go-msgauth's\ngot:  %q\nwant: %q\nmessage: %q", s.Key.Algorithm, got, want, msg)
			}
		}
	})
}

// TestSignMatchesGoMsgauth checks that Sign's signatures are go-msgauth's,
// byte for byte, for the golden messages and others, with short and long
// d= and s= (which fold the tag lines differently) and with and without
// x=.
func TestSignMatchesGoMsgauth(t *testing.T) {
	keys := testKeys(t)
	msgs := [][]byte{[]byte(testMessage), message4K()}
	golden, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range golden {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		in, _, _ := parseGolden(string(raw))
		msgs = append(msgs, []byte(crlf(in)))
	}
	signers := []Signer{
		{"example.test", "s1", keys["rsa2048"]},
		{"example.test", "s1", keys["rsa1024"]},
		{"example.test", "s1", keys["ed25519"]},
		{longDomain, "a-long-selector-for-the-signature-to-fold-early", keys["rsa2048"]},
		{"x.test", "s", keys["ed25519"]},
	}
	for _, msg := range msgs {
		checkSameAsMsgauth(t, msg, signers, 0)
		checkSameAsMsgauth(t, msg, signers, 72*time.Hour)
	}
}

// FuzzSignMatchesGoMsgauth checks that for any message Sign accepts, its
// signature is go-msgauth's, byte for byte.
func FuzzSignMatchesGoMsgauth(f *testing.F) {
	f.Add([]byte(testMessage), false)
	f.Add([]byte("From: a@example.test\r\n\r\n"), true)
	f.Add([]byte("From : a\r\n\tb\r\nSubject:\r\n\r\n \r\n\t\r\n"), false)
	f.Add([]byte("FROM:\t x \r\n y\r\nTo: a\r\nto:b\r\n\r\n a  b\t\r\n\r\n\r\nc \r\n\r\n"), true)
	f.Add([]byte("From: a\r\nSubject: \xff\xfe \xc2\xa0x\r\n\r\n\xc2\xa0 \x00\r\n"), false)
	keys, err := fuzzKeys()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte, rsaKey bool) {
		if _, _, err := parseMessage(msg); err != nil {
			return
		}
		k := keys[Ed25519]
		if rsaKey {
			k = keys[RSA]
		}
		checkSameAsMsgauth(t, msg, []Signer{{"example.test", "fuzz", k}}, time.Hour)
	})
}

// fuzzKeys returns an Ed25519 key and a small RSA key (fast to use).
func fuzzKeys() (map[Algorithm]*Key, error) {
	ed, err := Generate(Ed25519, 0)
	if err != nil {
		return nil, err
	}
	r, err := Generate(RSA, 1024)
	if err != nil {
		return nil, err
	}
	return map[Algorithm]*Key{Ed25519: ed, RSA: r}, nil
}
