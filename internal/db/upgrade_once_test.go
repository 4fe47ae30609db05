package db_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
)

// TestUpgradeMessageOnce: a database at migration 0015 with messages (one
// with its body, one finished, its body dropped as 0015 did) and their
// events upgrades on both stores (0016): the body moves to
// message_bodies, the events read the same bytes, the old mail_json still
// decodes, and an event written after the upgrade about a message stored
// before refers to its mail object and reads as MarshalJSON writes it.
func TestUpgradeMessageOnce(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		upgradeOnce(t, db.SQLite, filepath.Join(t.TempDir(), "sesame.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		upgradeOnce(t, db.Postgres, dbtest.PostgresURL(t))
	})
}

func upgradeOnce(t *testing.T, dialect db.Dialect, dsn string) {
	ctx := context.Background()
	d, err := db.OpenAt(ctx, dialect, dsn, 15)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	accepted := time.Date(2026, 3, 1, 10, 0, 0, 123_456_789, time.UTC)
	mail := func(id string) event.Mail {
		m := event.Mail{Timestamp: accepted, MessageID: id, Source: "a@x.test", SendingAccountID: "a1", Destination: []string{"r@y.test"},
			CommonHeaders: event.CommonHeaders{Subject: "hi"}, Headers: []event.Header{{Name: "Subject", Value: "hi"}}}
		event.AutoTags(&m, "cs", "x.test", "192.0.2.1", "user")
		return m
	}
	if _, err := d.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ('a1', 'a', 0)`); err != nil {
		t.Fatal(err)
	}
	var before []string // the payloads as 0015 read them
	for _, m := range []struct {
		id, state string
		body      []byte
	}{{"m1", "queued", []byte("From: a@x.test\r\n\r\nhi\r\n")}, {"m2", "delivered", []byte{}}} {
		mj, err := json.Marshal(mail(m.id)) // 0015 stored Mail's own encoding
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(ctx, `INSERT INTO messages (id, account_id, source, mail_from, configuration_set, mail_json, body, size, created_at) VALUES (?, 'a1', 'a@x.test', 'b@x.test', 'cs', ?, ?, 20, 0)`,
			m.id, string(mj), m.body); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(ctx, `INSERT INTO recipients (message_id, address, domain, state, next_attempt_at, created_at, updated_at) VALUES (?, 'r@y.test', 'y.test', ?, 0, 0, 0)`, m.id, m.state); err != nil {
			t.Fatal(err)
		}
		send := &event.Event{Type: event.Send, AccountID: "a1", ConfigurationSet: "cs", Mail: mail(m.id), Send: &event.SendDetails{}}
		if err := d.InTx(ctx, func(tx *db.Tx) error { _, err := event.Append(ctx, tx, send, accepted); return err }); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := d.Query(ctx, `SELECT payload FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		before = append(before, p)
	}
	rows.Close()
	if len(before) != 2 {
		t.Fatalf("events before = %d", len(before))
	}

	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	after, err := event.List(ctx, d, 0, 100, "", "")
	if err != nil || len(after) != 2 {
		t.Fatalf("events after = %d, %v", len(after), err)
	}
	for i := range before {
		if string(after[i].Payload) != before[i] {
			t.Errorf("event %d after the upgrade:\n%s\nbefore:\n%s", i, after[i].Payload, before[i])
		}
	}
	var bodies int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM message_bodies`).Scan(&bodies); err != nil || bodies != 1 {
		t.Fatalf("message_bodies rows = %d, %v; want 1 (m1's)", bodies, err)
	}
	now := accepted.Add(time.Minute)
	q, err := queue.New(queue.Options{DB: d, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	m1, body, err := q.Load(ctx, "m1")
	if err != nil || string(body) != "From: a@x.test\r\n\r\nhi\r\n" {
		t.Fatalf("Load(m1) = %q, %v", body, err)
	}
	if want := mail("m1"); !m1.Timestamp.Equal(want.Timestamp) || m1.Source != want.Source || m1.SourceIP != "192.0.2.1" || m1.Tags[event.TagFromDomain][0] != "x.test" {
		t.Fatalf("Load(m1) mail = %+v", m1)
	}
	if _, body, err := q.Load(ctx, "m2"); err != nil || len(body) != 0 {
		t.Fatalf("Load(m2): body of %d bytes, %v; want gone", len(body), err)
	}
	cs, err := q.Claim(ctx, "w", 10, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %+v, %v", cs, err)
	}
	del := &event.Event{Type: event.Delivery, AccountID: "a1", ConfigurationSet: "cs", Mail: m1,
		Delivery: &event.DeliveryDetails{Timestamp: now, Recipients: []string{"r@y.test"}, SMTPResponse: "250 ok"}}
	del.Mail.Tags = map[string][]string{}
	for k, v := range m1.Tags {
		del.Mail.Tags[k] = v
	}
	event.SetTag(&del.Mail, event.TagOutgoingIP, "198.51.100.1")
	if errs := q.Record(ctx, &m1, []queue.Outcome{{Claimed: cs[0], State: queue.Delivered, Reply: "250 ok", Events: []*event.Event{del}}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	want, err := del.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var ref bool
	if err := d.QueryRow(ctx, `SELECT mail_ref FROM events WHERE event_type = 'Delivery'`).Scan(&ref); err != nil || !ref {
		t.Fatalf("the Delivery event of a message stored before the upgrade: mail_ref %v, %v; want a reference", ref, err)
	}
	got, err := event.List(ctx, d, after[1].ID, 10, "", "m1")
	if err != nil || len(got) != 1 || string(got[0].Payload) != string(want) {
		t.Fatalf("Delivery event read back as %+v (%v); want\n%s", got, err, want)
	}
	if _, body, _ := q.Load(ctx, "m1"); len(body) != 0 {
		t.Fatal("body kept after the last recipient finished")
	}
}
