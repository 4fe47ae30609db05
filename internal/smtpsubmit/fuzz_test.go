package smtpsubmit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sigv4"
)

const (
	fuzzKey    = "AKIAFUZZ000000000001"
	fuzzSecret = "fuzz/secret/0000000000000000000000"
)

// recorder is the admission door's stand-in for the fuzz targets.
type recorder struct {
	last send.Request
	err  error
}

func (r *recorder) Submit(_ context.Context, req send.Request) (send.Result, error) {
	r.last = req
	return send.Result{MessageID: "id"}, r.err
}

func fuzzSession(t testing.TB, sub Submitter) *session {
	s, err := New(Options{Sender: sub, Region: "us-east-1", Hostname: "smtp.test", TLSConfig: &tls.Config{}, // no connections here
		Secret: func(_ context.Context, id string) (string, string, error) {
			if id != fuzzKey {
				return "", "", fmt.Errorf("%w: %s", account.ErrUnknownKey, id)
			}
			return fuzzSecret, "111122223333", nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return &session{s: s, ctx: context.Background(), cancel: func() {}, remote: "192.0.2.1"}
}

// FuzzAuth feeds AUTH exchanges (mechanism, initial response and two
// further responses, as go-smtp hands them over decoded) to the session:
// no panic, only the right key and password authenticate, and an
// exchange that does not authenticate counts one failure (malformed or
// abandoned ones too).
func FuzzAuth(f *testing.F) {
	pass := sigv4.SMTPPassword(fuzzSecret, "us-east-1")
	f.Add("PLAIN", []byte("\x00"+fuzzKey+"\x00"+pass), []byte(nil), []byte(nil))
	f.Add("PLAIN", []byte(fuzzKey+"\x00"+fuzzKey+"\x00"+pass), []byte(nil), []byte(nil))
	f.Add("PLAIN", []byte(nil), []byte("\x00user\x00pass"), []byte(nil))
	f.Add("LOGIN", []byte(nil), []byte(fuzzKey), []byte(pass))
	f.Add("LOGIN", []byte(fuzzKey), []byte(pass), []byte("more"))
	f.Add("LOGIN", []byte("\xff\x00"), []byte(strings.Repeat("A", 200)), []byte(""))
	f.Add("CRAM-MD5", []byte("x"), []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, mech string, ir, r1, r2 []byte) {
		x := fuzzSession(t, &recorder{})
		inner, err := x.saslServer(strings.ToUpper(mech))
		if err != nil {
			return
		}
		x.authOpen.Store(true) // as Auth does
		srv := &countedServer{x: x, srv: inner}
		for _, resp := range [][]byte{ir, r1, r2} {
			_, done, err := srv.Next(resp)
			if err != nil || done {
				break
			}
		}
		x.settleAuth() // the session's next call
		n := 0
		if f := x.s.guard.m[key(x.remote)]; f != nil {
			n = f.n
		}
		if x.keyID != "" {
			if x.keyID != fuzzKey || x.password != pass || x.accountID != "111122223333" {
				t.Fatalf("authenticated as %q with %q", x.keyID, x.password)
			}
		}
		if (x.keyID == "") != (n == 1) {
			t.Fatalf("authenticated %v, %d failures counted; want one failure exactly when not", x.keyID != "", n)
		}
	})
}

// FuzzEnvelope feeds MAIL and RCPT addresses (as go-smtp hands them over)
// and DATA to an authenticated session: no panic, the envelope reaches
// the admission door unchanged, and every reply is one SMTP line.
func FuzzEnvelope(f *testing.F) {
	f.Add("alice@example.test", "bob@rcpt.test", []byte("From: a@example.test\r\n\r\nhi\r\n"), "Recipient count exceeds 50.")
	f.Add("", "postmaster", []byte(""), "two\r\nlines\n")
	f.Add("\"quoted local\"@example.test", "bob@[192.0.2.1]", []byte("\x00\xff"), "Message length is more than 1 bytes long: '2'.")
	f.Fuzz(func(t *testing.T, from, to string, raw []byte, msg string) {
		rec := &recorder{}
		x := fuzzSession(t, rec)
		x.keyID, x.accountID, x.password = fuzzKey, "111122223333", sigv4.SMTPPassword(fuzzSecret, "us-east-1")
		if err := x.Mail(from, nil); err != nil {
			if err != errBadMailFrom { // a null or malformed reverse path
				t.Fatalf("MAIL: %v", err)
			}
			return
		}
		if err := x.Rcpt(to, nil); err != nil {
			t.Fatalf("RCPT: %v", err)
		}
		for _, kind := range []send.Kind{0, send.KindInvalid, send.KindMessageRejected, send.KindRateExceeded, send.KindConfigurationSetDoesNotExist} {
			rec.err = nil
			if kind != 0 {
				rec.err = &send.Error{Kind: kind, Msg: msg}
			}
			err := x.submit(raw)
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				t.Fatalf("reply %v is not an SMTP reply", err)
			}
			if strings.ContainsAny(se.Message, "\r\n") || se.Code < 200 || se.Code > 599 {
				t.Fatalf("reply %d %q", se.Code, se.Message)
			}
			if rec.last.From != from || len(rec.last.Destinations) != 1 || rec.last.Destinations[0] != to || string(rec.last.Raw) != string(raw) {
				t.Fatalf("request %+v", rec.last)
			}
		}
	})
}
