package unsub_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/unsub"
)

// fixture is two accounts with a list of the same name, a Service and
// its endpoint on a real HTTP server.
type fixture struct {
	d        *db.DB
	contacts *contact.Store
	svc      *unsub.Service
	a, b     string // account ids
	srv      *httptest.Server
	client   *http.Client // no cookies, no redirects: as a mailbox provider
	n        atomic.Int64
}

func newFixture(t testing.TB, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	box, err := seal.New("unsub test master key")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{d: d}
	accts := account.New(d, box, nil)
	for i, id := range []*string{&f.a, &f.b} {
		a, _, err := accts.Create(ctx, account.CreateOptions{Name: fmt.Sprintf("acct%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		*id = a.ID
	}
	if f.contacts, err = contact.New(contact.Options{DB: d, Changed: unsub.Changed}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{f.a, f.b} {
		if err := f.contacts.CreateList(ctx, id, contact.List{Name: "customers", Description: "Acme's customers", Topics: []contact.Topic{
			{TopicName: "news", DisplayName: "News", DefaultSubscriptionStatus: contact.OptIn},
			{TopicName: "offers", DisplayName: "Offers", DefaultSubscriptionStatus: contact.OptOut},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := unsub.LoadKey(ctx, d, box)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := unsub.LoadKey(ctx, d, box); err != nil || string(again) != string(key) {
		t.Fatalf("LoadKey twice: %v", err)
	}
	codec, err := unsub.NewCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	if f.svc, err = unsub.New(unsub.Options{Contacts: f.contacts, Codec: codec, PublicURL: f.srv.URL, MailDomain: "feedback-smtp.us-east-1.sesame.test"}); err != nil {
		t.Fatal(err)
	}
	mux.Handle(unsub.Path, f.svc.Handler())
	f.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

// links issues the links of a message of the account to address.
func (f *fixture) links(t testing.TB, acct, topic, address string) (string, string, string) {
	t.Helper()
	id := fmt.Sprintf("0100019a1b2c3d4e-0000-0000-0000-%012d-000000", f.n.Add(1))
	u, m, err := f.svc.Links(send.UnsubscribeLink{AccountID: acct, ContactList: "customers", Topic: topic, Address: address,
		ConfigurationSet: "marketing", MessageID: id, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return u, m, id
}

// oneClick POSTs as RFC 8058 says a mailbox provider does.
func (f *fixture) oneClick(t testing.TB, u string) (int, string) {
	t.Helper()
	resp, err := f.client.Post(u, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Set-Cookie") != "" || resp.StatusCode/100 == 3 {
		t.Errorf("answer with a cookie or a redirect: %d %v", resp.StatusCode, resp.Header)
	}
	return resp.StatusCode, string(b)
}

func (f *fixture) may(t testing.TB, acct, topic, address string) bool {
	t.Helper()
	ok, err := f.contacts.MayReceive(context.Background(), acct, "customers", topic, address)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// subscriptionEvents returns the Subscription events of a message.
func (f *fixture) subscriptionEvents(t testing.TB, acct, messageID string) []*event.Event {
	t.Helper()
	rows, err := event.List(context.Background(), f.d, 0, 100, acct, messageID)
	if err != nil {
		t.Fatal(err)
	}
	var out []*event.Event
	for _, r := range rows {
		e, err := r.Event()
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == event.Subscription {
			out = append(out, e)
		}
	}
	return out
}

// TestOneClick: the RFC 8058 POST unsubscribes the token's address from
// the token's topic at once (creating the contact, opted out), publishes
// one Subscription event through the message's configuration set, and
// nothing else: not the other account's contact of the same list, not
// another topic; replayed, it changes nothing more. A token without a
// topic unsubscribes from the whole list.
func TestOneClick(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		u, _, id := f.links(t, f.a, "news", "Bob@Example.test")
		if !strings.HasPrefix(u, f.srv.URL+"/unsubscribe?t=") {
			t.Fatalf("URL %s", u)
		}
		if code, body := f.oneClick(t, u); code != 200 || !strings.Contains(body, "unsubscribed") {
			t.Fatalf("one-click: %d %q", code, body)
		}
		if f.may(t, f.a, "news", "bob@example.test") || !f.may(t, f.a, "", "bob@example.test") {
			t.Error("after leaving news: bob may still receive news, or no longer the list")
		}
		if !f.may(t, f.b, "news", "bob@example.test") {
			t.Error("the other account's bob was unsubscribed")
		}
		c, err := f.contacts.GetContact(context.Background(), f.a, "customers", "bob@example.test")
		if err != nil || c.UnsubscribeAll || len(c.Preferences) != 1 || c.Preferences[0] != (contact.Preference{TopicName: "news", SubscriptionStatus: contact.OptOut}) {
			t.Fatalf("contact: %+v, %v", c, err)
		}
		evs := f.subscriptionEvents(t, f.a, id)
		if len(evs) != 1 {
			t.Fatalf("%d Subscription events", len(evs))
		}
		e := evs[0]
		s := e.Subscription
		if e.ConfigurationSet != "marketing" || s.ContactList != "customers" || s.Source != unsub.SourceHeader ||
			fmt.Sprint(s.OldTopicPreferences) != "{false [{news OptIn} {offers OptOut}]}" || fmt.Sprint(s.NewTopicPreferences) != "{false [{news OptOut} {offers OptOut}]}" ||
			e.Mail.Destination[0] != "Bob@Example.test" {
			t.Errorf("event: %+v %+v", e, s)
		}
		if code, _ := f.oneClick(t, u); code != 200 {
			t.Errorf("replayed: %d", code)
		}
		if n := len(f.subscriptionEvents(t, f.a, id)); n != 1 {
			t.Errorf("replayed: %d events", n)
		}

		all, _, id2 := f.links(t, f.a, "", "carol@example.test")
		if code, _ := f.oneClick(t, all); code != 200 {
			t.Fatalf("whole list: %d", code)
		}
		if f.may(t, f.a, "", "carol@example.test") {
			t.Error("carol still receives the list")
		}
		if evs := f.subscriptionEvents(t, f.a, id2); len(evs) != 1 || !evs[0].Subscription.NewTopicPreferences.UnsubscribeAll {
			t.Errorf("whole list event: %+v", evs)
		}
		// An unsubscribe is not a suppression.
		var n int64
		if err := d.QueryRow(context.Background(), `SELECT COUNT(*) FROM suppressed_destinations`).Scan(&n); err != nil || n != 0 {
			t.Errorf("suppression list: %d rows, %v", n, err)
		}
	})
}

// TestBadTokens: a forged, altered or truncated token, one of another
// deployment, and a genuine one whose list is gone, all get the same
// plain 400 and change nothing; a GET never changes anything.
func TestBadTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		u, mailto, _ := f.links(t, f.a, "news", "bob@example.test")
		tok := strings.TrimPrefix(u, f.srv.URL+"/unsubscribe?t=")
		flip := []byte(tok)
		flip[len(flip)/2] ^= 0x01 // a letter to its neighbour
		other := newFixture(t, dbtest.SQLite(t))
		otherURL, _, _ := other.links(t, other.a, "news", "bob@example.test")
		bad := []string{
			f.srv.URL + "/unsubscribe?t=" + string(flip),
			f.srv.URL + "/unsubscribe?t=" + tok[:len(tok)-4],
			f.srv.URL + "/unsubscribe?t=",
			f.srv.URL + "/unsubscribe",
			f.srv.URL + "/unsubscribe?t=" + strings.TrimPrefix(otherURL, other.srv.URL+"/unsubscribe?t="),
		}
		var first string
		for _, b := range bad {
			code, body := f.oneClick(t, b)
			if code != 400 {
				t.Errorf("%s: %d", b, code)
			}
			if first == "" {
				first = body
			} else if body != first {
				t.Errorf("different answers: %q and %q", first, body)
			}
		}
		// GET shows, never changes.
		resp, err := f.client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !f.may(t, f.a, "news", "bob@example.test") {
			t.Errorf("GET: %d, or it unsubscribed", resp.StatusCode)
		}
		if f.svc.IsUnsubscribeAddress(strings.Replace(mailto, "unsubscribe+a", "unsubscribe+b", 1)) || !f.svc.IsUnsubscribeAddress(mailto) ||
			f.svc.IsUnsubscribeAddress(strings.Replace(mailto, "sesame.test", "evil.test", 1)) {
			t.Error("IsUnsubscribeAddress")
		}
		var n int64
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM contacts`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("contacts after bad tokens: %d, %v", n, err)
		}
		// A genuine token of a list since deleted: the same answer.
		if err := f.contacts.DeleteList(ctx, f.a, "customers"); err != nil {
			t.Fatal(err)
		}
		if code, body := f.oneClick(t, u); code != 400 || body != first {
			t.Errorf("deleted list: %d %q", code, body)
		}
	})
}

// TestPreferencePage: the page shows the list's topics with the
// recipient's statuses; its forms, carrying only the token, leave a
// topic, leave everything, come back and save a choice of topics, each
// publishing a Subscription event with source UnsubscribeLink.
func TestPreferencePage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		u, _, id := f.links(t, f.a, "news", "dan@example.test")
		get := func(u string) string {
			resp, err := f.client.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Set-Cookie") != "" {
				t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
			}
			return string(b)
		}
		page := get(u)
		for _, want := range []string{"customers", `value="news" checked`, `value="offers">`, `name="action" value="all"`, "Leave only"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q:\n%s", want, page)
			}
		}
		post := func(form url.Values) string {
			resp, err := f.client.PostForm(u, form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("POST %v: %d %s", form, resp.StatusCode, b)
			}
			return string(b)
		}
		post(url.Values{"action": {"leave"}, "topic": {"news"}})
		if f.may(t, f.a, "news", "dan@example.test") {
			t.Error("leave: still on news")
		}
		post(url.Values{"action": {"all"}})
		if f.may(t, f.a, "", "dan@example.test") {
			t.Error("all: still on the list")
		}
		if page := post(url.Values{"action": {"resubscribe"}}); !strings.Contains(page, "Subscribe again") && !strings.Contains(page, "subscribed again") {
			t.Errorf("resubscribe page:\n%s", page)
		}
		if !f.may(t, f.a, "news", "dan@example.test") {
			t.Error("resubscribe: not back on news")
		}
		post(url.Values{"action": {"save"}, "topic": {"offers"}})
		if f.may(t, f.a, "news", "dan@example.test") || !f.may(t, f.a, "offers", "dan@example.test") {
			t.Error("save: want news off, offers on")
		}
		evs := f.subscriptionEvents(t, f.a, id)
		if len(evs) != 4 {
			t.Fatalf("%d events, want 4", len(evs))
		}
		for _, e := range evs {
			if e.Subscription.Source != unsub.SourceLink {
				t.Errorf("source %s", e.Subscription.Source)
			}
		}
		// A form with an unknown action or topic changes nothing.
		for _, form := range []url.Values{{"action": {"nuke"}}, {"action": {"leave"}, "topic": {"nope"}}} {
			resp, err := f.client.PostForm(u, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Errorf("%v: %d", form, resp.StatusCode)
			}
		}
		if n := len(f.subscriptionEvents(t, f.a, id)); n != 4 {
			t.Errorf("%d events after bad forms", n)
		}
	})
}

// TestMail: a message to the mailto: address unsubscribes as the
// one-click POST does.
func TestMail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		_, mailto, id := f.links(t, f.a, "", "erin@example.test")
		if !strings.HasPrefix(mailto, "unsubscribe+") || !strings.HasSuffix(mailto, "@feedback-smtp.us-east-1.sesame.test") {
			t.Fatalf("mailto %s", mailto)
		}
		if err := f.svc.Mail(context.Background(), strings.ToUpper(mailto)); err != nil {
			t.Fatal(err)
		}
		if f.may(t, f.a, "", "erin@example.test") {
			t.Error("still subscribed")
		}
		if evs := f.subscriptionEvents(t, f.a, id); len(evs) != 1 || evs[0].Subscription.Source != unsub.SourceHeader {
			t.Errorf("events %+v", evs)
		}
	})
}

// BenchmarkUnsubscribe: one-click POSTs per second through the HTTP
// endpoint, each a new recipient's unsubscribe (a contact created opted
// out and its Subscription event, in one transaction).
func BenchmarkUnsubscribe(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		f := newFixture(b, d)
		urls := make([]string, b.N)
		for i := range urls {
			urls[i], _, _ = f.links(b, f.a, "news", fmt.Sprintf("r%d@example.test", i))
		}
		b.ResetTimer()
		var next atomic.Int64
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if code, body := f.oneClick(b, urls[next.Add(1)-1]); code != 200 {
					b.Fatalf("%d %s", code, body)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "unsubscribes/s")
	})
}
