package bounce

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/testkit"
)

// FuzzParse: Parse never panics, and what it returns keeps the Report
// invariants (checkInvariants).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"Subject: x\n\nbody",
		"From x@y Mon Jan 1 00:00:00 2024\nSubject: x\n\n",
		"From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.1.1\n--b--\n",
		"Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nOriginal-Rcpt-To: a@b.example\n--b--\n",
		"From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n<a@b.example>:\nRemote host said: 550 5.1.1 no such user\n",
		"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAoKYm9keQ==\n",
		"Content-Type: text/plain; charset=iso-2022-jp\nContent-Transfer-Encoding: quoted-printable\n\n=1B$B=\n",
		"From: a@b.example\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nAway\n",
		"Subject: x\nContent-Type: text/plain\n\n{\"notificationType\":\"Bounce\",\"bounce\":{\"bouncedRecipients\":[{\"emailAddress\":\"a@b.example\"}]}}",
	} {
		f.Add([]byte(s))
	}
	if dir, ok := testkit.LookupShared("testdata/bounces"); ok {
		for _, name := range []string{"rfc3464-04.eml", "arf-17.eml", "lhost-qmail-02.eml", "lhost-exim-02.eml", "lhost-sendmail-15.eml", "rhost-aol-03.eml", "rfc3834-02.eml", "lhost-amazonses-10.eml", "lhost-postfix-50.eml"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		start := time.Now()
		r, err := Parse(msg)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Parse of %d bytes took %v", len(msg), d)
		}
		if err != nil {
			if r != nil {
				t.Fatalf("report %v with error %v", r, err)
			}
			return
		}
		checkInvariants(t, r)
	})
}
