package queue_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
)

func (f *fixture) bodyRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.d.QueryRow(f.ctx, `SELECT COUNT(*) FROM message_bodies`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// delivery is the Delivery event deliver makes for rcpt from the stored
// mail object: with ses:outgoing-ip added.
func (f *fixture) delivery(mail event.Mail, rcpt string) *event.Event {
	e := &event.Event{Type: event.Delivery, AccountID: f.acct, Mail: mail,
		Delivery: &event.DeliveryDetails{Timestamp: f.clock.Now(), Recipients: []string{rcpt}, SMTPResponse: "250 ok"}}
	e.Mail.Tags = maps.Clone(mail.Tags)
	event.SetTag(&e.Mail, event.TagOutgoingIP, "198.51.100.9")
	return e
}

// TestRecordOneMessage: the outcomes of a message's recipients recorded
// together; the one whose lease was lost is reported as such and nothing
// of it is written, the others are; the body row stays while a recipient
// is queued and goes with the last; the events refer to the stored mail
// object and read back as MarshalJSON writes them.
func TestRecordOneMessage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "a@one.example", "b@one.example", "c@one.example", "d@one.example")
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		if f.bodyRows(t) != 1 {
			t.Fatal("no body row after Enqueue")
		}
		cs, err := f.q.Claim(f.ctx, "w1", 10, time.Minute)
		if err != nil || len(cs) != 4 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		mail, _, err := f.q.Load(f.ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		var outs []queue.Outcome
		var realC queue.Claimed
		for _, c := range cs {
			if c.Address == "c@one.example" {
				// A claim that is no longer the lease's (another worker
				// took the row over since): its outcome is dropped.
				realC = c
				c.LeaseUntil = c.LeaseUntil.Add(-time.Millisecond)
			}
			o := queue.Outcome{Claimed: c, State: queue.Delivered, Reply: "250 ok", Events: []*event.Event{f.delivery(mail, c.Address)}}
			if c.Address == "d@one.example" {
				o = queue.Outcome{Claimed: c, State: queue.Queued, Next: f.clock.Now().Add(time.Hour), Reply: "451 later"}
			}
			outs = append(outs, o)
		}
		errs := f.q.Record(f.ctx, &mail, outs)
		for i, c := range cs {
			want := error(nil)
			if c.Address == "c@one.example" {
				want = queue.ErrLeaseLost
			}
			if !errors.Is(errs[i], want) || (want == nil && errs[i] != nil) {
				t.Fatalf("%s: %v, want %v", c.Address, errs[i], want)
			}
		}
		if c := f.counts(t); c[queue.Delivered] != 2 || c[queue.Queued] != 2 {
			t.Fatalf("counts = %v", c)
		}
		if f.bodyRows(t) != 1 {
			t.Fatal("body dropped while recipients are queued")
		}
		if got := f.events(t, "m1"); len(got) != 3 {
			t.Fatalf("events = %v, want Send and two Deliveries", got)
		}
		var refs int
		if err := d.QueryRow(f.ctx, `SELECT COUNT(*) FROM events WHERE mail_ref = ?`, true).Scan(&refs); err != nil || refs != 3 {
			t.Fatalf("%d events refer to the mail object (%v), want 3", refs, err)
		}
		for _, s := range eventRows(t, f, "m1")[1:] {
			ev, err := s.Event()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := f.delivery(mail, ev.Delivery.Recipients[0]).MarshalJSON()
			if string(s.Payload) != string(want) {
				t.Fatalf("Delivery read back as\n%s\nwant\n%s", s.Payload, want)
			}
		}
		// c is finished by the lease's holder, then d: the last one drops
		// the body.
		if errs := f.q.Record(f.ctx, &mail, []queue.Outcome{{Claimed: realC, State: queue.Bounced, Reply: "550 no"}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		if f.bodyRows(t) != 1 {
			t.Fatal("body dropped while d is queued")
		}
		f.clock.Advance(time.Hour)
		d2, err := f.q.Claim(f.ctx, "w1", 10, time.Minute)
		if err != nil || len(d2) != 1 {
			t.Fatalf("Claim = %+v, %v", d2, err)
		}
		if err := f.q.Finish(f.ctx, d2[0], queue.Delivered, "250 ok", nil); err != nil {
			t.Fatal(err)
		}
		if f.bodyRows(t) != 0 {
			t.Fatal("body row kept after the last recipient finished")
		}
		if b, err := f.q.Body(f.ctx, "m1"); err != nil || len(b) != 0 {
			t.Fatalf("Body = %d bytes, %v; want gone", len(b), err)
		}
	})
}

func eventRows(t *testing.T, f *fixture, messageID string) []event.Stored {
	t.Helper()
	s, err := event.List(f.ctx, f.d, 0, 100, "", messageID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPruneKeepsReferredMail: pruning a message whose events refer to
// its mail object (one unpublished, one published) writes the mail object
// into them first: they read the same bytes after.
func TestPruneKeepsReferredMail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "a@one.example")
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		cs, err := f.q.Claim(f.ctx, "w", 10, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		mail, _, _ := f.q.Load(f.ctx, "m1")
		if errs := f.q.Record(f.ctx, &mail, []queue.Outcome{{Claimed: cs[0], State: queue.Delivered, Reply: "250 ok", Events: []*event.Event{f.delivery(mail, "a@one.example")}}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		before := eventRows(t, f, "m1")
		if len(before) != 2 {
			t.Fatalf("events = %d", len(before))
		}
		// The Send event is published, the Delivery not.
		if _, err := d.Exec(f.ctx, `UPDATE events SET published_at = 1 WHERE id = ?`, before[0].ID); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(48 * time.Hour)
		if p, err := f.q.Prune(f.ctx, f.clock.Now().Add(-time.Hour)); err != nil || p.Messages != 1 {
			t.Fatalf("Prune = %+v, %v", p, err)
		}
		if _, err := f.q.Lookup(f.ctx, "m1"); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("message not pruned: %v", err)
		}
		after := eventRows(t, f, "m1")
		if len(after) != 2 {
			t.Fatalf("events after Prune = %d", len(after))
		}
		for i := range after {
			if string(after[i].Payload) != string(before[i].Payload) {
				t.Fatalf("event %d after Prune:\n%s\nbefore:\n%s", i, after[i].Payload, before[i].Payload)
			}
		}
		var refs int
		if err := d.QueryRow(f.ctx, `SELECT COUNT(*) FROM events WHERE mail_ref = ?`, true).Scan(&refs); err != nil || refs != 0 {
			t.Fatalf("%d events still refer to a pruned message (%v)", refs, err)
		}
	})
}

// TestRecordAlsoFailsAlone: an outcome whose Also fails (a bounce whose
// notification cannot be queued) loses only itself, as when each
// recipient was recorded in a transaction of its own: the delivery to
// another recipient of the message is recorded all the same, so that it
// is not left queued and sent again when its lease expires.
func TestRecordAlsoFailsAlone(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "a@one.example", "b@one.example", "c@one.example")
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		cs, err := f.q.Claim(f.ctx, "w1", 10, time.Minute)
		if err != nil || len(cs) != 3 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		mail, _, err := f.q.Load(f.ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("notification not queued")
		ran := 0
		var outs []queue.Outcome
		for _, c := range cs {
			o := queue.Outcome{Claimed: c, State: queue.Delivered, Reply: "250 ok", Events: []*event.Event{f.delivery(mail, c.Address)}}
			if c.Address == "b@one.example" {
				o = queue.Outcome{Claimed: c, State: queue.Bounced, Reply: "550 no", Also: func(ctx context.Context, tx *db.Tx) error {
					ran++
					if _, err := tx.Exec(ctx, `UPDATE recipients SET last_reply = 'written by the failed Also' WHERE message_id = 'm1'`); err != nil {
						return err
					}
					return boom
				}}
			}
			outs = append(outs, o)
		}
		errs := f.q.Record(f.ctx, &mail, outs)
		for i, c := range cs {
			want := error(nil)
			if c.Address == "b@one.example" {
				want = boom
			}
			if !errors.Is(errs[i], want) || (want == nil && errs[i] != nil) {
				t.Fatalf("%s: %v, want %v", c.Address, errs[i], want)
			}
		}
		if ran == 0 {
			t.Fatal("the Also did not run")
		}
		if c := f.counts(t); c[queue.Delivered] != 2 || c[queue.Queued] != 1 {
			t.Fatalf("counts = %v, want the two deliveries recorded and b still queued", c)
		}
		var n int
		if err := d.QueryRow(f.ctx, `SELECT COUNT(*) FROM recipients WHERE last_reply = 'written by the failed Also'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d rows keep the failed Also's write (%v)", n, err)
		}
		if got := f.events(t, "m1"); len(got) != 3 {
			t.Fatalf("events = %v, want Send and two Deliveries", got)
		}
		if f.bodyRows(t) != 1 {
			t.Fatal("body dropped while b is queued")
		}
	})
}

// TestRecordLatin1Header: a message whose header holds bytes that are not
// UTF-8 (a raw message's Latin-1 subject): the Delivery event deliver
// makes from the mail object Load decoded reads back as MarshalJSON
// writes it. Referring to the stored mail object would give its bytes,
// which spell the replaced byte \ufffd where MarshalJSON of the decoded
// one writes U+FFFD itself.
func TestRecordLatin1Header(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		m, send := f.message("m1", "a@one.example")
		m.Mail.Headers = []event.Header{{Name: "Subject", Value: "caf\xe9"}}
		m.Mail.CommonHeaders.Subject = "caf\xe9"
		send.Mail = m.Mail
		if err := f.q.Enqueue(f.ctx, m, send); err != nil {
			t.Fatal(err)
		}
		cs, err := f.q.Claim(f.ctx, "w", 10, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Fatalf("Claim = %+v, %v", cs, err)
		}
		mail, _, err := f.q.Load(f.ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		ev := f.delivery(mail, "a@one.example")
		if errs := f.q.Record(f.ctx, &mail, []queue.Outcome{{Claimed: cs[0], State: queue.Delivered, Reply: "250 ok", Events: []*event.Event{ev}}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		rows := eventRows(t, f, "m1")
		if len(rows) != 2 {
			t.Fatalf("events = %d", len(rows))
		}
		for i, e := range []*event.Event{send, ev} {
			want, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(rows[i].Payload) != string(want) {
				t.Errorf("%s event read back as\n%s\nwant\n%s", e.Type, rows[i].Payload, want)
			}
		}
	})
}
