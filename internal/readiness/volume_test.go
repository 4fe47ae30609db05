package readiness_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/readiness"
)

// TestReportVolume times one report on a domain with
// SESAME_READINESS_EVENTS messages (and as many sends and a complaint per
// thousand in the statistics) in the window, beside as many of another
// domain; skipped unless that variable is set (e.g. 100000).
func TestReportVolume(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SESAME_READINESS_EVENTS"))
	if n <= 0 {
		t.Skip("set SESAME_READINESS_EVENTS to time a report over that many messages")
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.domain(e.acct, "bulk.test", "bounce.bulk.test")
		e.domain(e.acct, "quiet.test", "")
		e.dmarc("bulk.test", "v=DMARC1; p=reject; rua=mailto:d@bulk.test")
		now := e.clock.Now()
		start := time.Now()
		step := readiness.UnsubscribeWindow / time.Duration(n+1)
		err := d.InTx(e.ctx, func(tx *db.Tx) error {
			for i := range 2 * n {
				domain := "bulk.test"
				if i%2 == 1 {
					domain = "quiet.test"
				}
				at := now.Add(-step * time.Duration(i/2+1))
				var hs []event.Header
				if i%4 == 0 {
					hs = append(hs, event.Header{Name: "List-Unsubscribe", Value: "<https://sesame.example.test/unsubscribe?t=" + fmt.Sprintf("%064d", i) + ">, <mailto:unsubscribe+x@feedback-smtp.us-east-1.sesame.example.test>"},
						event.Header{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"})
				}
				if err := e.storeMail(tx, fmt.Sprintf("m%07d", i), domain, at, hs); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The statistics: per 15-minute bucket, as the publisher adds them.
		for b := range int(readiness.ComplaintWindow / (15 * time.Minute)) {
			e.seed("bulk.test", now.Add(-time.Duration(b)*15*time.Minute-time.Minute), n/672+1, (n/672+1)/1000)
		}
		t.Logf("seeded %d messages in %s", 2*n, time.Since(start).Round(time.Millisecond))

		for range 3 {
			t0 := time.Now()
			r := e.report("bulk.test")
			t.Logf("%s: report over %d messages of the domain (%d in the window): %s", d.Dialect, r.Unsubscribe.Messages, 2*n, time.Since(t0).Round(time.Millisecond))
			if r.Unsubscribe.Messages != int64(n) || r.Unsubscribe.OneClick != int64((n+1)/2) || !r.Unsubscribe.Bulk {
				t.Fatalf("counts %+v", r.Unsubscribe)
			}
		}
	})
}

// storeMail stores a message of the account from news@domain, sent at at,
// whose mail object has the usual headers and then extra.
func (e *env) storeMail(tx *db.Tx, id, domain string, at time.Time, extra []event.Header) error {
	m := event.Mail{Timestamp: at, MessageID: id, Source: "news@" + domain,
		SourceArn: "arn:aws:ses:us-east-1:" + e.acct + ":identity/" + domain, SendingAccountID: e.acct,
		Destination: []string{"r-" + id + "@rcpt.test"}}
	hs := []event.Header{{Name: "From", Value: "news@" + domain}, {Name: "To", Value: m.Destination[0]},
		{Name: "Subject", Value: "The news of the week"}, {Name: "MIME-Version", Value: "1.0"},
		{Name: "Content-Type", Value: "multipart/alternative; boundary=\"b1\""}}
	event.SetHeaders(&m, append(hs, extra...))
	m.CommonHeaders = event.CommonHeaders{From: []string{"news@" + domain}, To: m.Destination, Subject: "The news of the week"}
	event.AutoTags(&m, "", domain, "127.0.0.1", "")
	js, err := event.MailJSON(&m, "")
	if err != nil {
		return err
	}
	_, err = tx.Exec(e.ctx, `INSERT INTO messages (id, account_id, source, source_arn, mail_from, configuration_set, mail_json, size, system, created_at)
		VALUES (?, ?, ?, ?, ?, '', ?, 2000, ?, ?)`, m.MessageID, e.acct, m.Source, m.SourceArn, m.MessageID+"@bounce."+domain, string(js), false, db.Millis(at))
	return err
}

// TestUnsubscribeFieldNames: header field names are case-insensitive
// (RFC 5322): a message whose own fields are spelled list-unsubscribe and
// LIST-UNSUBSCRIBE-POST counts as one-click, and one with only a
// list-unsubscribe as List-Unsubscribe without one-click.
func TestUnsubscribeFieldNames(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.domain(e.acct, "bulk.test", "")
		at := e.clock.Now().Add(-time.Hour)
		err := d.InTx(e.ctx, func(tx *db.Tx) error {
			if err := e.storeMail(tx, "m1", "bulk.test", at, []event.Header{
				{Name: "list-unsubscribe", Value: "<https://bulk.test/u?x=1>, <mailto:u@bulk.test>"},
				{Name: "LIST-UNSUBSCRIBE-POST", Value: "List-Unsubscribe=One-Click"}}); err != nil {
				return err
			}
			return e.storeMail(tx, "m2", "bulk.test", at, []event.Header{{Name: "list-unsubscribe", Value: "<mailto:u@bulk.test>"}})
		})
		if err != nil {
			t.Fatal(err)
		}
		if u := e.report("bulk.test").Unsubscribe; u.Messages != 2 || u.OneClick != 1 || u.ListUnsubscribeOnly != 1 {
			t.Fatalf("counts %+v, want 2 messages, 1 one-click, 1 List-Unsubscribe only", u)
		}
	})
}
