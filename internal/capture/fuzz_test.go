package capture

import (
	"strings"
	"testing"
)

// FuzzMessageFields feeds the capture MX's readers of untrusted bytes (the
// header section, RFC 2047 subjects, the From domain, the MessageId
// candidates of the envelope sender and Message-ID header) with anything.
func FuzzMessageFields(f *testing.F) {
	f.Add([]byte("From: \"A\" <a@ex.example>\r\nSubject: =?utf-8?q?h=C3=A9?=\r\nMessage-ID: <0100-x@email.example>\r\n\r\nbody\r\n"), "0100-x@mail.ex.example")
	f.Add([]byte("From: a@b, c@d\r\n\r\n"), "")
	f.Add([]byte("Subject: =?bogus?x?zz?=\r\n"), "@")
	f.Fuzz(func(t *testing.T, raw []byte, mailFrom string) {
		h := header(raw)
		decode(h.Get("Subject"))
		if d, err := headerFromDomain(raw); err == nil && strings.Contains(d, "@") {
			t.Fatalf("From domain %q holds an '@'", d)
		}
		for _, id := range candidateIDs(mailFrom, h.Get("Message-Id")) {
			if id == "" || strings.Contains(id, "@") {
				t.Fatalf("candidate %q from %q / %q", id, mailFrom, h.Get("Message-Id"))
			}
		}
	})
}
