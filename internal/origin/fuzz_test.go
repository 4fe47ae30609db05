package origin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/origin"
)

// FuzzVerifyDKIM feeds untrusted bytes to VerifyDKIM with a real (loopback)
// DNS server publishing one key, for recipient.example. It must not panic,
// must read every input to its end, must stay within its bounds and must
// never pass a signature but one by that key.
func FuzzVerifyDKIM(f *testing.F) {
	z := newZone(f)
	signed := sign(f, report("mailer-daemon@recipient.example"), "recipient.example", "s1", z.key("recipient.example", "s1"))
	f.Add(signed)
	f.Add(strings.ReplaceAll(signed, "\r\n", "\n"))
	f.Add(strings.Replace(signed, "d=recipient.example", "d=Recipient.Example.", 1))
	f.Add(report("mailer-daemon@recipient.example"))
	f.Add("DKIM-Signature: v=1; a=rsa-sha256; d=x.test; s=s; h=from; bh=; b=\r\n\r\n")
	f.Add("DKIM-Signature: v=1; a=ed25519-sha256; d=" + strings.Repeat("a.", 140) + "test; s=s; h=from; bh=AA==; b=AA==; l=0\r\nFrom: a@b\r\n\r\nx")
	f.Add("dkim-signature:\r\n\t\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, msg string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cr := &countingReader{r: strings.NewReader(msg)}
		got, err := origin.VerifyDKIM(ctx, z.c.Resolver, cr)
		if err != nil && !errors.Is(err, origin.ErrHeaderTooLarge) && !strings.HasPrefix(err.Error(), "dkim: ") {
			t.Fatalf("unexpected error %v", err)
		}
		if !cr.eof || cr.n != int64(len(msg)) {
			t.Fatalf("read %d of %d bytes (EOF %v)", cr.n, len(msg), cr.eof)
		}
		if len(got) > origin.MaxSignatures {
			t.Fatalf("%d results, more than MaxSignatures", len(got))
		}
		for _, r := range got {
			if r.Domain != strings.ToLower(r.Domain) || strings.HasSuffix(r.Domain, ".") {
				t.Fatalf("Domain %q not normalised", r.Domain)
			}
			if r.Pass != (r.Err == "") || (r.Pass && r.Temporary) {
				t.Fatalf("inconsistent result %+v", r)
			}
			if r.Pass && r.Domain != "recipient.example" {
				t.Fatalf("a signature of %q passed; only recipient.example has a key", r.Domain)
			}
		}
	})
}
