package testkit

import (
	"bytes"
	"context"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
)

// VerificationSecret returns the secret of the newest address
// verification link queued to address — what /verify?token= takes — read
// from the message in the queue as its recipient would read it. It fails
// the test when no such mail is queued.
func VerificationSecret(t testing.TB, q db.Querier, address string) string {
	t.Helper()
	var body []byte
	err := q.QueryRow(context.Background(), `SELECT b.body FROM messages m JOIN recipients r ON r.message_id = m.id LEFT JOIN message_bodies b ON b.message_id = m.id
		WHERE m.system = ? AND r.address = ? ORDER BY m.created_at DESC LIMIT 1`, true, address).Scan(&body)
	if err != nil {
		t.Fatalf("no verification mail queued to %s: %v", address, err)
	}
	return VerificationSecretIn(t, body)
}

// VerificationSecretIn returns the secret of the verification link in
// the message msg, as its recipient would read it, failing the test when
// it has none.
func VerificationSecretIn(t testing.TB, msg []byte) string {
	t.Helper()
	_, text := MailText(t, msg)
	_, after, ok := strings.Cut(text, "/verify?token=")
	if !ok || len(strings.Fields(after)) == 0 {
		t.Fatalf("no verification link in the mail:\n%s", msg)
	}
	return strings.Fields(after)[0]
}

// MailText returns the header of the single-part message msg and its body
// as its recipient reads it (quoted-printable decoded), failing the test
// when it does not parse.
func MailText(t testing.TB, msg []byte) (mail.Header, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("mail: %v", err)
	}
	var r io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	text, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("mail: %v", err)
	}
	return m.Header, string(text)
}
