package stats_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dnstest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/stats"
	"github.com/sesame-email/sesame/internal/testkit"
)

// t0 is a quarter hour: the start of a bucket.
var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// newAccount creates an account and returns its id.
func newAccount(t *testing.T, d *db.DB, name string) string {
	t.Helper()
	box, err := seal.New("stats test secret")
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := account.New(d, box, time.Now).Create(context.Background(), account.CreateOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// ev builds a valid event of type typ for account, sent from identity
// with configuration set set, at time at, about the recipients.
func ev(t *testing.T, typ event.Type, accountID, set, identity string, at time.Time, rcpts ...string) *event.Event {
	t.Helper()
	e := &event.Event{Type: typ, AccountID: accountID, ConfigurationSet: set, Mail: event.Mail{
		Timestamp: at, MessageID: fmt.Sprintf("msg-%d", at.UnixNano()), Source: "sender@" + identity,
		SourceArn: "arn:aws:ses:us-east-1:" + accountID + ":identity/" + identity, SendingAccountID: accountID, Destination: rcpts,
	}}
	recipients := func() []event.Recipient {
		var rs []event.Recipient
		for _, r := range rcpts {
			rs = append(rs, event.Recipient{EmailAddress: r, Action: "failed", Status: "5.1.1"})
		}
		return rs
	}
	switch typ {
	case event.Send:
		e.Send = &event.SendDetails{}
	case event.Reject:
		e.Reject = &event.RejectDetails{Reason: event.RejectReason}
	case event.Delivery:
		e.Delivery = &event.DeliveryDetails{Timestamp: at, Recipients: rcpts, SMTPResponse: "250 ok"}
	case event.DeliveryDelay:
		e.DeliveryDelay = &event.DelayDetails{DelayType: "TransientCommunicationFailure", ExpirationTime: at.Add(time.Hour), Timestamp: at, DelayedRecipients: recipients()}
	case event.Complaint:
		e.Complaint = &event.ComplaintDetails{ComplainedRecipients: rcpts, Timestamp: at}
	case event.Open:
		e.Open = &event.OpenDetails{IPAddress: "192.0.2.1", Timestamp: at, UserAgent: "Test"}
	case event.Click:
		e.Click = &event.ClickDetails{IPAddress: "192.0.2.1", Timestamp: at, UserAgent: "Test", Link: "https://shop.example.test/"}
	default:
		t.Fatalf("ev: use bounce for %s", typ)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

func bounce(t *testing.T, accountID, set, identity string, at time.Time, typ, sub string, rcpts ...string) *event.Event {
	t.Helper()
	e := ev(t, event.Send, accountID, set, identity, at, rcpts...)
	e.Type, e.Send = event.Bounce, nil
	var rs []event.Recipient
	for _, r := range rcpts {
		rs = append(rs, event.Recipient{EmailAddress: r})
	}
	e.Bounce = &event.BounceDetails{BounceType: typ, BounceSubType: sub, BouncedRecipients: rs, Timestamp: at}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

// row is a send_stats row as tests compare it.
type row struct {
	Account, Identity, Set, ISP                                                        string
	Bucket                                                                             time.Time
	Simulator                                                                          bool
	Sends, Deliveries, PermanentBounces, TransientBounces, Complaints, Rejects, Delays int64
}

func rows(t *testing.T, d *db.DB) []row {
	t.Helper()
	rs, err := d.Query(context.Background(), `SELECT account_id, identity, configuration_set, isp, bucket, simulator, sends, deliveries,
		permanent_bounces, transient_bounces, complaints, rejects, delivery_delays FROM send_stats
		ORDER BY account_id, bucket, identity, configuration_set, isp, simulator`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		var b int64
		if err := rs.Scan(&r.Account, &r.Identity, &r.Set, &r.ISP, &b, &r.Simulator, &r.Sends, &r.Deliveries,
			&r.PermanentBounces, &r.TransientBounces, &r.Complaints, &r.Rejects, &r.Delays); err != nil {
			t.Fatal(err)
		}
		r.Bucket = db.Time(b).UTC()
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	// Sorted here: PostgreSQL's collation may order text differently.
	slices.SortFunc(out, func(a, b row) int {
		return cmp.Or(a.Bucket.Compare(b.Bucket), strings.Compare(a.Identity, b.Identity), strings.Compare(a.Set, b.Set), strings.Compare(a.ISP, b.ISP))
	})
	return out
}

// zone starts a DNS server with the MX records the tests use.
func zone(t *testing.T) *dnstest.Server {
	srv := dnstest.NewServer(t)
	// A domain hosted at Google: the MX host's name is only data here, it
	// is never resolved.
	srv.Add("gmail-hosted.test. 300 IN MX 5 gmail-smtp-in.l.google.com.")
	srv.Add("gmail-hosted.test. 300 IN MX 10 alt1.gmail-smtp-in.l.google.com.")
	// Preference decides: the lowest one is the provider.
	srv.Add("m365.test. 300 IN MX 20 backup.mailhost.test.")
	srv.Add("m365.test. 300 IN MX 0 m365-test.mail.protection.outlook.com.")
	srv.Add("corp.test. 300 IN MX 10 mx1.eu.mailhost.test.")
	srv.Add("partner.test. 300 IN MX 10 in.mx.provider.test.")
	srv.Add("nomx.test. 300 IN A 192.0.2.1")
	srv.Add("nullmx.test. 300 IN MX 0 .")
	srv.Fail("broken.test.", mdns.RcodeServerFailure)
	return srv
}

func newStore(t *testing.T, d *db.DB, clock *testkit.Clock, srv *dnstest.Server, mod func(*stats.Options)) *stats.Store {
	t.Helper()
	o := stats.Options{DB: d, Now: clock.Now, SimulatorDomains: []string{"simulator.amazonses.com", "simulator.sesame.test"},
		ISPs: map[string]string{"provider.test": "ProviderMail"}}
	if srv != nil {
		o.Resolver = srv.Resolver()
	}
	if mod != nil {
		mod(&o)
	}
	s, err := stats.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// add runs Prepare and AddTx for events, as the publisher does.
func add(t *testing.T, d *db.DB, s *stats.Store, events ...*event.Event) {
	t.Helper()
	ctx := context.Background()
	s.Prepare(ctx, events)
	if err := d.InTx(ctx, func(tx *db.Tx) error { return s.AddTx(ctx, tx, events) }); err != nil {
		t.Fatal(err)
	}
}

func TestAddTxCountsPerRecipient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "counts")
		clock := testkit.NewClock(t0.Add(time.Hour))
		s := newStore(t, d, clock, zone(t), nil)
		at := t0.Add(3 * time.Minute)
		suppressed := "OnAccountSuppressionList"
		complaintSuppressed := ev(t, event.Complaint, acct, "set1", "example.com", at, "c@corp.test")
		complaintSuppressed.Complaint.ComplaintSubType = &suppressed
		add(t, d, s,
			ev(t, event.Send, acct, "set1", "example.com", at, "a@gmail-hosted.test", "b@GMAIL-hosted.test", "c@corp.test"),
			ev(t, event.Send, acct, "set1", "example.com", at.Add(time.Minute), "bounce@simulator.amazonses.com"),
			ev(t, event.Delivery, acct, "set1", "example.com", at, "a@gmail-hosted.test", "c@corp.test"),
			bounce(t, acct, "set1", "example.com", at, "Permanent", "General", "b@gmail-hosted.test"),
			bounce(t, acct, "set1", "example.com", at, "Transient", "MailboxFull", "c@corp.test"),
			bounce(t, acct, "set1", "example.com", at, "Undetermined", "Undetermined", "c@corp.test"),
			bounce(t, acct, "set1", "example.com", at, "Permanent", "OnAccountSuppressionList", "c@corp.test"),
			bounce(t, acct, "set1", "example.com", at, "Permanent", "General", "bounce@simulator.amazonses.com"),
			ev(t, event.Complaint, acct, "set1", "example.com", at, "a@gmail-hosted.test"),
			complaintSuppressed,
			ev(t, event.Reject, acct, "", "sender@example.net", at, "x@partner.test", "y@partner.test"),
			ev(t, event.DeliveryDelay, acct, "set1", "example.com", at.Add(20*time.Minute), "c@corp.test"),
		)
		b15 := t0.Add(15 * time.Minute)
		want := []row{
			{Account: acct, Identity: "example.com", Set: "set1", ISP: "Gmail", Bucket: t0, Sends: 2, Deliveries: 1, PermanentBounces: 1, Complaints: 1},
			{Account: acct, Identity: "example.com", Set: "set1", ISP: "Simulator", Bucket: t0, Simulator: true, Sends: 1, PermanentBounces: 1},
			{Account: acct, Identity: "example.com", Set: "set1", ISP: "mailhost.test", Bucket: t0, Sends: 1, Deliveries: 1, TransientBounces: 2},
			{Account: acct, Identity: "sender@example.net", Set: "", ISP: "ProviderMail", Bucket: t0, Rejects: 2},
			{Account: acct, Identity: "example.com", Set: "set1", ISP: "mailhost.test", Bucket: b15, Delays: 1},
		}
		if diff := gocmp.Diff(want, rows(t, d)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}

		// A second batch adds to the same rows.
		add(t, d, s, ev(t, event.Send, acct, "set1", "example.com", at, "z@gmail-hosted.test"),
			ev(t, event.Send, acct, "set1", "example.com", at, "w@gmail-hosted.test"))
		got := rows(t, d)
		if got[0].Sends != 4 || len(got) != len(want) {
			t.Errorf("after a second batch: %+v, want the Gmail row at 4 sends and no new row", got)
		}
	})
}

func TestAddTxRollsBackWithTheTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "rollback")
		s := newStore(t, d, testkit.NewClock(t0), nil, nil)
		ctx := context.Background()
		boom := errors.New("publisher failed")
		err := d.InTx(ctx, func(tx *db.Tx) error {
			if err := s.AddTx(ctx, tx, []*event.Event{ev(t, event.Send, acct, "", "example.com", t0, "a@x.test")}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx: %v", err)
		}
		if r := rows(t, d); len(r) != 0 {
			t.Errorf("rows after rollback: %+v", r)
		}
		// Without a resolver every ISP is Other.
		add(t, d, s, ev(t, event.Send, acct, "", "example.com", t0, "a@x.test"))
		if r := rows(t, d); len(r) != 1 || r[0].ISP != stats.ISPOther {
			t.Errorf("rows: %+v, want one row with ISP Other", r)
		}
	})
}

func TestISPResolution(t *testing.T) {
	d := dbtest.SQLite(t)
	acct := newAccount(t, d, "isp")
	srv := zone(t)
	clock := testkit.NewClock(t0)
	s := newStore(t, d, clock, srv, func(o *stats.Options) { o.FailureTTL = time.Minute; o.CacheTTL = time.Hour })
	domains := map[string]string{
		"gmail-hosted.test": "Gmail",
		"m365.test":         "Hotmail",
		"corp.test":         "mailhost.test",
		"partner.test":      "ProviderMail",
		"nomx.test":         "nomx.test", // implicit MX: the domain itself
		"nxdomain.test":     "nxdomain.test",
		"nullmx.test":       stats.ISPOther,
		"broken.test":       stats.ISPOther,
	}
	var events []*event.Event
	for dom := range domains {
		events = append(events, ev(t, event.Send, acct, "", "example.com", t0, "u@"+dom))
	}
	add(t, d, s, events...)
	got := map[string]string{}
	for _, r := range rows(t, d) {
		got[r.ISP] = r.ISP
	}
	for dom, isp := range domains {
		if got[isp] == "" {
			t.Errorf("%s: no row with ISP %q; rows: %+v", dom, isp, rows(t, d))
		}
	}

	// Resolved domains are cached; the failure is tried again once its
	// short TTL has passed, the others only after theirs.
	q := srv.Queries()
	s.Prepare(context.Background(), events)
	if n := srv.Queries() - q; n != 0 {
		t.Errorf("second Prepare sent %d queries, want 0 (cached)", n)
	}
	clock.Advance(2 * time.Minute)
	q = srv.Queries()
	s.Prepare(context.Background(), events)
	if n := srv.Queries() - q; n != 1 {
		t.Errorf("Prepare after the failure TTL sent %d queries, want 1 (broken.test again)", n)
	}
	srv.Unfail("broken.test.")
	srv.Add("broken.test. 300 IN MX 10 mx.yahoodns.net.")
	clock.Advance(2 * time.Minute)
	s.Prepare(context.Background(), events)
	add(t, d, s, ev(t, event.Send, acct, "", "example.com", t0, "u@broken.test"))
	found := false
	for _, r := range rows(t, d) {
		found = found || r.ISP == "Yahoo"
	}
	if !found {
		t.Errorf("broken.test, repaired, is not counted under Yahoo: %+v", rows(t, d))
	}
	clock.Advance(2 * time.Hour)
	q = srv.Queries()
	s.Prepare(context.Background(), events)
	if n := srv.Queries() - q; n != int64(len(domains)) {
		t.Errorf("Prepare after the cache TTL sent %d queries, want %d", n, len(domains))
	}
	// Simulator domains are never looked up.
	q = srv.Queries()
	s.Prepare(context.Background(), []*event.Event{ev(t, event.Send, acct, "", "example.com", t0, "success@simulator.amazonses.com", "x@SIMULATOR.sesame.test")})
	if n := srv.Queries() - q; n != 0 {
		t.Errorf("simulator recipients caused %d queries", n)
	}
}

func TestPrepareIsBounded(t *testing.T) {
	d := dbtest.SQLite(t)
	acct := newAccount(t, d, "bounded")
	srv := zone(t)
	clock := testkit.NewClock(t0)

	// At most MaxLookups domains per call; the rest count as Other.
	s := newStore(t, d, clock, srv, func(o *stats.Options) { o.MaxLookups = 2 })
	events := []*event.Event{ev(t, event.Send, acct, "", "example.com", t0, "a@gmail-hosted.test", "b@m365.test", "c@corp.test", "d@partner.test")}
	q := srv.Queries()
	s.Prepare(context.Background(), events)
	if n := srv.Queries() - q; n != 2 {
		t.Errorf("Prepare sent %d queries, want MaxLookups=2", n)
	}
	if err := d.InTx(context.Background(), func(tx *db.Tx) error { return s.AddTx(context.Background(), tx, events) }); err != nil {
		t.Fatal(err)
	}
	var other int64
	for _, r := range rows(t, d) {
		if r.ISP == stats.ISPOther {
			other += r.Sends
		}
	}
	if other != 2 {
		t.Errorf("%d sends under Other, want the 2 domains left over: %+v", other, rows(t, d))
	}

	// A server that never answers costs at most the budget.
	srv.Drop("slow.test.", true)
	srv.Drop("slow2.test.", true)
	s = newStore(t, d, clock, srv, func(o *stats.Options) {
		o.LookupTimeout = 100 * time.Millisecond
		o.PrepareBudget = 150 * time.Millisecond
		o.LookupWorkers = 1
	})
	start := time.Now()
	s.Prepare(context.Background(), []*event.Event{ev(t, event.Send, acct, "", "example.com", t0, "a@slow.test", "b@slow2.test")})
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Errorf("Prepare took %v with a 150ms budget", el)
	}

	// The cache holds CacheSize domains at most: the least recently used
	// goes first.
	s = newStore(t, d, clock, srv, func(o *stats.Options) { o.CacheSize = 2 })
	s.Prepare(context.Background(), []*event.Event{ev(t, event.Send, acct, "", "example.com", t0, "a@gmail-hosted.test", "b@m365.test", "c@corp.test")})
	q = srv.Queries()
	s.Prepare(context.Background(), []*event.Event{ev(t, event.Send, acct, "", "example.com", t0, "a@gmail-hosted.test", "b@m365.test", "c@corp.test")})
	if n := srv.Queries() - q; n < 1 {
		t.Errorf("a cache of 2 held 3 domains (%d queries)", n)
	}
}

func TestTotals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "totals")
		other := newAccount(t, d, "other")
		clock := testkit.NewClock(t0.Add(2 * time.Hour))
		s := newStore(t, d, clock, zone(t), nil)
		add(t, d, s,
			ev(t, event.Send, acct, "set1", "example.com", t0, "a@corp.test", "b@corp.test", "success@simulator.amazonses.com"),
			ev(t, event.Send, acct, "set2", "example.com", t0.Add(time.Hour), "c@corp.test"),
			ev(t, event.Delivery, acct, "set1", "example.com", t0.Add(time.Minute), "a@corp.test", "success@simulator.amazonses.com"),
			bounce(t, acct, "set1", "example.com", t0.Add(time.Minute), "Permanent", "General", "b@corp.test"),
			bounce(t, acct, "set2", "example.com", t0.Add(time.Hour), "Transient", "General", "c@corp.test"),
			ev(t, event.Complaint, acct, "set1", "example.com", t0.Add(time.Minute), "a@corp.test", "complaint@simulator.amazonses.com"),
			ev(t, event.Reject, acct, "", "example.com", t0.Add(time.Hour), "r@corp.test"),
			ev(t, event.Send, other, "set1", "other.test", t0, "x@corp.test", "y@corp.test"),
			// In the future of the clock: not yet counted.
			ev(t, event.Send, acct, "set1", "example.com", t0.Add(3*time.Hour), "late@corp.test"),
		)
		ctx := context.Background()
		check := func(set string, since time.Time, want stats.Totals) {
			t.Helper()
			got, err := s.Totals(ctx, acct, set, since)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Totals(%q, %v) = %+v, want %+v", set, since, got, want)
			}
		}
		check("", t0, stats.Totals{Sends: 3, Deliveries: 1, PermanentBounces: 1, TransientBounces: 1, Complaints: 1, Rejects: 1})
		check("set1", t0, stats.Totals{Sends: 2, Deliveries: 1, PermanentBounces: 1, Complaints: 1})
		check("set2", t0, stats.Totals{Sends: 1, TransientBounces: 1})
		check("", t0.Add(30*time.Minute), stats.Totals{Sends: 1, TransientBounces: 1, Rejects: 1})
		check("nope", t0, stats.Totals{})
		got, err := s.Totals(ctx, other, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		if got != (stats.Totals{Sends: 2}) {
			t.Errorf("other account's totals: %+v", got)
		}
	})
}

func TestSendStatistics(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "sendstats")
		other := newAccount(t, d, "other")
		now := t0.Add(15 * 24 * time.Hour)
		s := newStore(t, d, testkit.NewClock(now), zone(t), nil)
		recent := now.Add(-time.Hour).Add(7 * time.Minute)
		add(t, d, s,
			ev(t, event.Send, acct, "", "example.com", now.Add(-15*24*time.Hour), "old@corp.test"), // more than two weeks ago
			ev(t, event.Send, acct, "", "example.com", recent, "a@corp.test", "bounce@simulator.amazonses.com"),
			bounce(t, acct, "", "example.com", recent, "Permanent", "General", "bounce@simulator.amazonses.com"),
			ev(t, event.Complaint, acct, "s", "example.com", recent.Add(20*time.Minute), "a@corp.test"),
			ev(t, event.Reject, acct, "", "example.com", recent.Add(20*time.Minute), "r@corp.test"),
			ev(t, event.Delivery, acct, "", "example.com", recent.Add(40*time.Minute), "a@corp.test"), // no point: deliveries are not in it
			ev(t, event.Send, other, "", "other.test", recent, "x@corp.test"),
		)
		got, err := s.SendStatistics(context.Background(), acct)
		if err != nil {
			t.Fatal(err)
		}
		b := now.Add(-time.Hour)
		want := []stats.SendDataPoint{
			{Timestamp: b, DeliveryAttempts: 2, Bounces: 1},
			{Timestamp: b.Add(15 * time.Minute), Complaints: 1, Rejects: 1},
		}
		for i := range got {
			got[i].Timestamp = got[i].Timestamp.UTC()
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("SendStatistics (-want +got):\n%s", diff)
		}
	})
}

// metricData is s.MetricData of q for accountID, its timestamps in UTC.
func metricData(t *testing.T, s *stats.Store, q stats.MetricQuery, accountID string) stats.MetricData {
	t.Helper()
	got, err := s.MetricData(context.Background(), accountID, q)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Timestamps {
		got.Timestamps[i] = got.Timestamps[i].UTC()
	}
	return got
}

func TestMetricData(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "metrics")
		other := newAccount(t, d, "other")
		day1 := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
		day2 := day1.Add(stats.Day)
		s := newStore(t, d, testkit.NewClock(day2.Add(20*time.Hour)), zone(t), nil)
		add(t, d, s,
			ev(t, event.Send, acct, "set1", "example.com", day1.Add(time.Hour), "a@gmail-hosted.test", "b@corp.test"),
			ev(t, event.Send, acct, "set1", "example.com", day1.Add(23*time.Hour+50*time.Minute), "c@gmail-hosted.test"),
			ev(t, event.Send, acct, "", "a@example.org", day2.Add(time.Hour), "d@gmail-hosted.test"),
			ev(t, event.Delivery, acct, "set1", "example.com", day2.Add(time.Hour), "a@gmail-hosted.test"),
			bounce(t, acct, "set1", "example.com", day2.Add(time.Hour), "Permanent", "General", "b@corp.test"),
			bounce(t, acct, "set1", "example.com", day2.Add(time.Hour), "Transient", "General", "c@gmail-hosted.test"),
			ev(t, event.Complaint, acct, "set1", "example.com", day2.Add(2*time.Hour), "a@gmail-hosted.test"),
			ev(t, event.Send, other, "set1", "example.com", day1.Add(time.Hour), "z@gmail-hosted.test"),
		)
		ctx := context.Background()
		query := func(m stats.Metric, dims map[stats.Dimension]string, start, end time.Time) stats.MetricData {
			t.Helper()
			return metricData(t, s, stats.MetricQuery{Metric: m, Dimensions: dims, Start: start, End: end}, acct)
		}
		tests := []struct {
			metric     stats.Metric
			dims       map[stats.Dimension]string
			start, end time.Time
			want       stats.MetricData
		}{
			{stats.MetricSend, nil, day1, day2.Add(time.Hour), stats.MetricData{Timestamps: []time.Time{day1, day2}, Values: []int64{3, 1}}},
			// Whole days: a start late in day 1 still counts all of it.
			{stats.MetricSend, nil, day1.Add(23 * time.Hour), day1.Add(23 * time.Hour), stats.MetricData{Timestamps: []time.Time{day1}, Values: []int64{3}}},
			{stats.MetricSend, map[stats.Dimension]string{stats.DimensionEmailIdentity: "example.com"}, day1, day2, stats.MetricData{Timestamps: []time.Time{day1}, Values: []int64{3}}},
			{stats.MetricSend, map[stats.Dimension]string{stats.DimensionEmailIdentity: "a@example.org"}, day1, day2, stats.MetricData{Timestamps: []time.Time{day2}, Values: []int64{1}}},
			{stats.MetricSend, map[stats.Dimension]string{stats.DimensionISP: "Gmail"}, day1, day2, stats.MetricData{Timestamps: []time.Time{day1, day2}, Values: []int64{2, 1}}},
			{stats.MetricSend, map[stats.Dimension]string{stats.DimensionISP: "Gmail", stats.DimensionConfigurationSet: "set1"}, day1, day2, stats.MetricData{Timestamps: []time.Time{day1}, Values: []int64{2}}},
			{stats.MetricDelivery, nil, day1, day2, stats.MetricData{Timestamps: []time.Time{day2}, Values: []int64{1}}},
			{stats.MetricPermanentBounce, map[stats.Dimension]string{stats.DimensionISP: "mailhost.test"}, day1, day2, stats.MetricData{Timestamps: []time.Time{day2}, Values: []int64{1}}},
			{stats.MetricTransientBounce, nil, day1, day2, stats.MetricData{Timestamps: []time.Time{day2}, Values: []int64{1}}},
			{stats.MetricComplaint, map[stats.Dimension]string{stats.DimensionConfigurationSet: "set1"}, day1, day2, stats.MetricData{Timestamps: []time.Time{day2}, Values: []int64{1}}},
			{stats.MetricComplaint, nil, day1, day1, stats.MetricData{Timestamps: []time.Time{}, Values: []int64{}}},
			{stats.MetricSend, map[stats.Dimension]string{stats.DimensionConfigurationSet: "nope"}, day1, day2, stats.MetricData{Timestamps: []time.Time{}, Values: []int64{}}},
		}
		for _, tc := range tests {
			if diff := gocmp.Diff(tc.want, query(tc.metric, tc.dims, tc.start, tc.end)); diff != "" {
				t.Errorf("%s %v %v–%v (-want +got):\n%s", tc.metric, tc.dims, tc.start, tc.end, diff)
			}
		}
		for _, bad := range []stats.MetricQuery{
			{Metric: "DELIVERY_OPEN", Start: day1, End: day2},
			{Metric: stats.MetricSend, Dimensions: map[stats.Dimension]string{"TENANT_NAME": "x"}, Start: day1, End: day2},
			{Metric: stats.MetricSend, Start: day2, End: day1},
			{Metric: stats.MetricSend, End: day1},
		} {
			if _, err := s.MetricData(ctx, acct, bad); !errors.Is(err, stats.ErrInvalid) {
				t.Errorf("MetricData(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
	})
}

func TestPrune(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "prune")
		s := newStore(t, d, testkit.NewClock(t0), nil, nil)
		add(t, d, s, ev(t, event.Send, acct, "", "example.com", t0.Add(-48*time.Hour), "a@x.test"),
			ev(t, event.Send, acct, "", "example.com", t0.Add(-time.Hour), "a@x.test"))
		n, err := s.Prune(context.Background(), t0.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if r := rows(t, d); n != 1 || len(r) != 1 || !r[0].Bucket.Equal(t0.Add(-time.Hour)) {
			t.Errorf("Prune deleted %d; left %+v", n, r)
		}
	})
}

func TestISPForMX(t *testing.T) {
	for host, want := range map[string]string{
		"gmail-smtp-in.l.google.com.":                 "Gmail",
		"ASPMX.L.GOOGLE.COM":                          "Gmail",
		"alt2.gmail-smtp-in.l.google.com":             "Gmail",
		"smtp.googlemail.com.":                        "Gmail",
		"example-com.mail.protection.outlook.com.":    "Hotmail",
		"hotmail-com.olc.protection.outlook.com.":     "Hotmail",
		"mx1.hotmail.com.":                            "Hotmail",
		"mta5.am0.yahoodns.net.":                      "Yahoo",
		"mx-aol.mail.gm0.yahoodns.net.":               "AOL",
		"mx01.mail.icloud.com.":                       "iCloud",
		"mx-in.g.apple.com.":                          "iCloud",
		"mx1.comcast.net.":                            "Comcast",
		"al-ip4-mx-vip1.prodigy.net.":                 "AT&T",
		"mx00.emig.gmx.net.":                          "GMX",
		"mx-ha01.web.de.":                             "Web.de",
		"mx.yandex.net.":                              "Yandex",
		"in1-smtp.messagingengine.com.":               "Fastmail",
		"mail.protonmail.ch.":                         "Proton",
		"mx1.mail.example.co.uk.":                     "example.co.uk",
		"mx.example.com":                              "example.com",
		"mx1.notgoogle.com.":                          "notgoogle.com",
		"google.com.evil.test.":                       "evil.test",
		".":                                           stats.ISPOther,
		"":                                            stats.ISPOther,
		"co.uk.":                                      "co.uk",
		"mxa-0001.gslb.pphosted.com.":                 "pphosted.com",
		"eu-smtp-inbound-1.mimecast.com.":             "mimecast.com",
		"163mx01.mxmail.netease.com.":                 "NetEase",
		"mxbiz1.qq.com.":                              "QQ",
		"mx.zoho.eu.":                                 "Zoho",
		"smtp-in.orange.fr.":                          "Orange",
		"mx1.free.fr.":                                "Free",
		"mx.libero.it.":                               "Libero",
		"mx00.t-online.de.":                           "T-Online",
		"mxs.mail.ru.":                                "Mail.ru",
		"inbound.charter.net.":                        "Spectrum",
		"mx.west.cox.net.":                            "Cox",
		"mx.verizon.net.":                             "Verizon",
		"sfr.fr.":                                     "SFR",
		"mx.yahoo.com.":                               "Yahoo",
		"mx.aol.com.":                                 "AOL",
		"mx.zoho.com.":                                "Zoho",
		"mx.yandex.ru.":                               "Yandex",
		"smtp.hotmail.com":                            "Hotmail",
		"alt1.aspmx.l.google.com.":                    "Gmail",
		"aspmx2.googlemail.com.":                      "Gmail",
		"sesame-test.mail.protection.outlook.com.":    "Hotmail",
		"feedback-smtp.us-east-1.amazonses.com.":      "amazonses.com",
		"mx.example.test.":                            "example.test",
		"mx1.eu.mailhost.test.":                       "mailhost.test",
		"in.mx.provider.test.":                        "provider.test",
		"mx.sub.example.test.":                        "example.test",
		"MX.Example.TEST":                             "example.test",
		"mx.example.test":                             "example.test",
		"eu-smtp-inbound-2.mimecast.com":              "mimecast.com",
		"example-com.mail.eo.outlook.com.":            "Hotmail",
		"mx.icloud.com.":                              "iCloud",
		"mx.me.com.":                                  "me.com",
		"mx.gm0.yahoodns.net.":                        "Yahoo",
		"mx-aol.mail.gm0.yahoodns.net":                "AOL",
		"aol.mail.gm0.yahoodns.net":                   "Yahoo",
		"gmail-smtp-in.l.google.com.google.com.test.": "com.test",
	} {
		if got := stats.ISPForMX(host, nil); got != want {
			t.Errorf("ISPForMX(%q) = %q, want %q", host, got, want)
		}
	}
	// Options.ISPs come first, the longest matching domain winning.
	extra := map[string]string{"provider.test": "ProviderMail", "eu.provider.test": "ProviderEU", "google.com": "Mine"}
	for host, want := range map[string]string{
		"in.mx.provider.test.":    "ProviderMail",
		"mx1.eu.provider.test.":   "ProviderEU",
		"aspmx.l.google.com.":     "Mine",
		"mx.notprovider.test.":    "notprovider.test",
		"mx01.mail.icloud.com.":   "iCloud",
		"mxprovider.test.":        "mxprovider.test",
		"eu.provider.test.":       "ProviderEU",
		"provider.test.":          "ProviderMail",
		"x.provider.test.example": "test.example",
	} {
		if got := stats.ISPForMX(host, extra); got != want {
			t.Errorf("ISPForMX(%q, extra) = %q, want %q", host, got, want)
		}
	}
}

// engaged is an Open or Click (typ) at at of message id, sent at sent
// from identity through set to rcpts.
func engaged(t *testing.T, typ event.Type, accountID, set, identity, id string, sent, at time.Time, rcpts ...string) *event.Event {
	t.Helper()
	e := ev(t, typ, accountID, set, identity, at, rcpts...)
	e.Mail.MessageID, e.Mail.Timestamp = id, sent
	return e
}

// Opens and clicks count messages, not hits: a message opened (clicked)
// any number of times on a UTC day counts one that day, under its first
// recipient's row, across batches; the next day it counts again. Another
// account's message of the same id counts on its own, and a rolled-back
// batch leaves nothing behind, not even the memory of the hit.
func TestOpensAndClicksCountMessagesPerDay(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "engagement")
		other := newAccount(t, d, "other")
		day1 := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
		day2 := day1.Add(stats.Day)
		s := newStore(t, d, testkit.NewClock(day2.Add(12*time.Hour)), zone(t), nil)
		sent := day1.Add(10 * time.Hour)
		a := func(typ event.Type, at time.Time) *event.Event {
			return engaged(t, typ, acct, "news", "example.com", "msg-a", sent, at, "a@gmail-hosted.test", "b@corp.test")
		}
		b := func(typ event.Type, at time.Time) *event.Event {
			return engaged(t, typ, acct, "", "a@example.org", "msg-b", sent, at, "c@m365.test")
		}
		midnight := day2.Add(-time.Millisecond)
		add(t, d, s, a(event.Open, day1.Add(12*time.Hour)), a(event.Open, midnight), b(event.Open, day1.Add(11*time.Hour)),
			a(event.Click, day1.Add(13*time.Hour)), a(event.Click, day1.Add(13*time.Hour)))
		add(t, d, s, a(event.Open, day1.Add(23*time.Hour)), a(event.Click, midnight), a(event.Open, day2), a(event.Open, day2.Add(time.Hour)),
			engaged(t, event.Open, other, "news", "example.com", "msg-a", sent, day1.Add(12*time.Hour), "z@gmail-hosted.test"))

		// A batch whose transaction rolls back: its hit is not remembered,
		// so the same open counts when the batch is published again.
		c := engaged(t, event.Click, acct, "news", "example.com", "msg-c", sent, day2.Add(2*time.Hour), "d@gmail-hosted.test")
		ctx := context.Background()
		boom := errors.New("rolled back")
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			if err := s.AddTx(ctx, tx, []*event.Event{c}); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		add(t, d, s, c)

		query := func(accountID string, m stats.Metric, dims map[stats.Dimension]string) stats.MetricData {
			t.Helper()
			return metricData(t, s, stats.MetricQuery{Metric: m, Dimensions: dims, Start: day1, End: day2}, accountID)
		}
		both := func(v1, v2 int64) stats.MetricData {
			return stats.MetricData{Timestamps: []time.Time{day1, day2}, Values: []int64{v1, v2}}
		}
		none := stats.MetricData{Timestamps: []time.Time{}, Values: []int64{}}
		for _, tc := range []struct {
			acct   string
			metric stats.Metric
			dims   map[stats.Dimension]string
			want   stats.MetricData
		}{
			{acct, stats.MetricOpen, nil, both(2, 1)},
			{acct, stats.MetricOpen, map[stats.Dimension]string{stats.DimensionISP: "Gmail"}, both(1, 1)},
			{acct, stats.MetricOpen, map[stats.Dimension]string{stats.DimensionISP: "mailhost.test"}, none},
			{acct, stats.MetricOpen, map[stats.Dimension]string{stats.DimensionConfigurationSet: "news", stats.DimensionEmailIdentity: "example.com"}, both(1, 1)},
			{acct, stats.MetricOpen, map[stats.Dimension]string{stats.DimensionEmailIdentity: "a@example.org", stats.DimensionISP: "Hotmail"},
				stats.MetricData{Timestamps: []time.Time{day1}, Values: []int64{1}}},
			{acct, stats.MetricClick, nil, both(1, 1)},
			{acct, stats.MetricClick, map[stats.Dimension]string{stats.DimensionConfigurationSet: "news"}, both(1, 1)},
			{acct, stats.MetricSend, nil, none},
			{acct, stats.MetricDelivery, nil, none},
			{other, stats.MetricOpen, nil, stats.MetricData{Timestamps: []time.Time{day1}, Values: []int64{1}}},
			{other, stats.MetricClick, nil, none},
		} {
			if diff := gocmp.Diff(tc.want, query(tc.acct, tc.metric, tc.dims)); diff != "" {
				t.Errorf("%s %s %v (-want +got):\n%s", tc.acct, tc.metric, tc.dims, diff)
			}
		}
		// Sending statistics and the reputation totals know nothing of
		// opens and clicks.
		if p, err := s.SendStatistics(ctx, acct); err != nil || len(p) != 0 {
			t.Errorf("SendStatistics = %v, %v; want no points", p, err)
		}
	})
}

// Prune forgets the engagements of the days that ended before its
// cutoff, and keeps those of a day still partly kept.
func TestPruneEngagements(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		acct := newAccount(t, d, "prune")
		s := newStore(t, d, testkit.NewClock(t0), nil, nil)
		day := t0.Truncate(stats.Day)
		add(t, d, s, engaged(t, event.Open, acct, "", "example.com", "old", day.Add(-50*time.Hour), day.Add(-47*time.Hour), "a@x.test"),
			engaged(t, event.Open, acct, "", "example.com", "today", day, day.Add(time.Minute), "a@x.test"))
		if _, err := s.Prune(context.Background(), day.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		var ids []string
		rs, err := d.Query(context.Background(), `SELECT message_id FROM engagement_seen ORDER BY message_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if fmt.Sprint(ids) != "[today]" {
			t.Errorf("engagement_seen after Prune: %v, want [today]", ids)
		}
	})
}
