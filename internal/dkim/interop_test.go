package dkim

import (
	"bytes"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// TestMsgauthInterop signs a message with each kind of key through
// go-msgauth and verifies it against the published record, as a receiving
// MTA would.
func TestMsgauthInterop(t *testing.T) {
	const message = "From: Alice <alice@example.test>\r\n" +
		"To: Bob <bob@example.org>\r\n" +
		"Subject: interop\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID: <1@example.test>\r\n" +
		"\r\n" +
		"Hello, Bob.\r\n"

	for name, k := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			record, err := k.Record()
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
			parts := SplitTXT(record)
			for i, p := range parts {
				if len(p) > 255 {
					t.Fatalf("SplitTXT part %d is %d bytes", i, len(p))
				}
			}

			var signed bytes.Buffer
			err = msgauth.Sign(&signed, strings.NewReader(message), &msgauth.SignOptions{
				Domain:   "example.test",
				Selector: "s1",
				Signer:   k.Signer,
			})
			if err != nil {
				t.Fatalf("dkim.Sign: %v", err)
			}

			var looked []string
			verifs, err := msgauth.VerifyWithOptions(bytes.NewReader(signed.Bytes()), &msgauth.VerifyOptions{
				LookupTXT: func(domain string) ([]string, error) {
					looked = append(looked, domain)
					// One TXT record made of several character-strings;
					// like net.LookupTXT, return it with the strings
					// concatenated (go-msgauth treats each element of the
					// slice as a separate record).
					return []string{strings.Join(parts, "")}, nil
				},
			})
			if err != nil {
				t.Fatalf("VerifyWithOptions: %v", err)
			}
			if len(looked) != 1 || looked[0] != "s1._domainkey.example.test" {
				t.Errorf("looked up %q; want [s1._domainkey.example.test]", looked)
			}
			if len(verifs) != 1 {
				t.Fatalf("got %d verifications; want 1", len(verifs))
			}
			if v := verifs[0]; v.Err != nil || v.Domain != "example.test" {
				t.Errorf("verification: domain %q, err %v", v.Domain, v.Err)
			}
		})
	}
}
