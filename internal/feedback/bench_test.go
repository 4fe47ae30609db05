package feedback_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/testkit"
)

// BenchmarkFeedbackMX is the feedback MX end to end: a DSN over SMTP (one
// connection, a transaction per report) to the return path of a sent
// message, its origin checked (rcpt.test's MX host, looked up at a
// loopback DNS server), parsed, applied (Bounce event, suppression entry,
// forwarded notice) and kept in one database transaction. It reports
// reports/s; set SESAME_TEST_DATABASE_URL for PostgreSQL.
//
//	go test -run '^$' -bench FeedbackMX ./internal/feedback/
func BenchmarkFeedbackMX(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		f := newFixture(b, d)
		addr := f.serve(b, nil)
		ids := make([]string, 0, 1024)
		for i := range cap(ids) {
			id := fmt.Sprintf("m%d", i)
			f.send(b, id, fmt.Sprintf("r%d@rcpt.test", i))
			ids = append(ids, id)
		}
		c, err := smtp.Dial(addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ResetTimer()
		n := 0
		for b.Loop() {
			i := n % len(ids)
			rp := ids[i] + "@" + mailFromDom
			if err := c.SendMail("", []string{rp}, strings.NewReader(testkit.DSN(rp, fmt.Sprintf("r%d@rcpt.test", i), "5.1.1", "550 5.1.1 user unknown"))); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "reports/s")
	})
}
