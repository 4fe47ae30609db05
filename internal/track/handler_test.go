package track_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/track"
)

// fixture is an account with a message sent through set "news", and a
// tracking service over the same database.
type fixture struct {
	env   *apitest.Env
	svc   *track.Service
	codec *track.Codec
	msgID string
}

func newFixture(tb testing.TB, d *db.DB) *fixture {
	tb.Helper()
	env := apitest.New(tb, d)
	env.Production(tb, "example.test", nil)
	ctx := context.Background()
	if err := env.ConfigSets.Create(ctx, configset.NewSet(env.Account.ID, "news")); err != nil {
		tb.Fatal(err)
	}
	out, err := env.V2.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("shop@example.test"), ConfigurationSetName: aws.String("news"),
		Destination: &types.Destination{ToAddresses: []string{"bob@example.org"}},
		Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Offer")},
			Body: &types.Body{Html: &types.Content{Data: aws.String(`<a href="https://shop.example.test/">Shop</a>`)}}}}})
	if err != nil {
		tb.Fatal(err)
	}
	codec, err := track.NewCodec(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := track.New(track.Options{DB: d, Codec: codec, PublicURL: "http://sesame.example.test", Now: env.Clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{env: env, svc: svc, codec: codec, msgID: aws.ToString(out.MessageId)}
}

func (f *fixture) hit(method, path string, tok string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path+"?t="+url.QueryEscape(tok), nil)
	r.RemoteAddr = "192.0.2.7:40000"
	r.Header.Set("User-Agent", "Mozilla/5.0 (Test)")
	w := httptest.NewRecorder()
	f.svc.Handler().ServeHTTP(w, r)
	return w
}

func TestHandler(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		acct := f.env.Account.ID
		open := track.Token{AccountID: acct, MessageID: f.msgID, ConfigurationSet: "news"}
		click := track.Token{Click: true, AccountID: acct, MessageID: f.msgID, ConfigurationSet: "news", Link: "https://shop.example.test/?a=1&b=2", Tags: "campaign:spring"}

		// The pixel: a GIF, not cached; one Open per GET, none per HEAD.
		w := f.hit(http.MethodGet, track.OpenPath, f.codec.Encode(open))
		if w.Code != 200 || w.Header().Get("Content-Type") != "image/gif" || w.Header().Get("Cache-Control") != "no-store" || !bytes.HasPrefix(w.Body.Bytes(), []byte("GIF89a")) {
			t.Fatalf("pixel: %d %v %q", w.Code, w.Header(), w.Body.Bytes())
		}
		if w := f.hit(http.MethodHead, track.OpenPath, f.codec.Encode(open)); w.Code != 200 || w.Body.Len() != 0 {
			t.Errorf("HEAD pixel: %d, %d bytes", w.Code, w.Body.Len())
		}
		opens := f.env.Events(t, event.Open)
		if len(opens) != 1 {
			t.Fatalf("%d Open events, want 1 (HEAD records nothing)", len(opens))
		}
		if o := opens[0].Open; o.IPAddress != "192.0.2.7" || o.UserAgent != "Mozilla/5.0 (Test)" || o.Timestamp.Sub(f.env.Clock.Now()).Abs() > time.Minute ||
			opens[0].Mail.MessageID != f.msgID || opens[0].ConfigurationSet != "news" || len(opens[0].Mail.Destination) != 1 {
			t.Errorf("Open event = %+v %+v", opens[0], o)
		}

		// A click: 302 to the original link, every GET recorded.
		for range 2 {
			w := f.hit(http.MethodGet, track.ClickPath, f.codec.Encode(click))
			if w.Code != http.StatusFound || w.Header().Get("Location") != click.Link {
				t.Fatalf("click: %d, Location %q", w.Code, w.Header().Get("Location"))
			}
		}
		if w := f.hit(http.MethodHead, track.ClickPath, f.codec.Encode(click)); w.Code != http.StatusFound {
			t.Errorf("HEAD click: %d", w.Code)
		}
		clicks := f.env.Events(t, event.Click)
		if len(clicks) != 2 {
			t.Fatalf("%d Click events, want 2", len(clicks))
		}
		if c := clicks[0].Click; c.Link != click.Link || fmt.Sprint(c.LinkTags) != "map[campaign:[spring]]" || c.IPAddress != "192.0.2.7" {
			t.Errorf("Click = %+v", c)
		}

		// Refused: nothing recorded, never a redirect.
		other, _ := track.NewCodec(bytes.Repeat([]byte{4}, 32))
		good := f.codec.Encode(click)
		swapped := f.codec.Encode(track.Token{Click: true, AccountID: acct, MessageID: f.msgID, ConfigurationSet: "news", Link: "https://evil.example.test/"})
		for name, c := range map[string]struct{ path, tok string }{
			"forged":           {track.ClickPath, other.Encode(click)},
			"swapped URL":      {track.ClickPath, swapped[:len(swapped)-22] + good[len(good)-22:]},
			"open on click":    {track.ClickPath, f.codec.Encode(open)},
			"click on open":    {track.OpenPath, good},
			"no token":         {track.ClickPath, ""},
			"truncated":        {track.ClickPath, good[:len(good)-3]},
			"URL in the query": {track.ClickPath, "https://evil.example.test/"},
		} {
			w := f.hit(http.MethodGet, c.path, c.tok)
			if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
				t.Errorf("%s: %d, Location %q", name, w.Code, w.Header().Get("Location"))
			}
		}
		if w := f.hit(http.MethodPost, track.ClickPath, good); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", w.Code)
		}
		if n := len(f.env.Events(t, event.Click)) + len(f.env.Events(t, event.Open)); n != 3 {
			t.Errorf("%d events after refusals, want 3", n)
		}

		// A genuine token whose message is gone (or not the token's
		// account's): redirected, not recorded.
		gone := click
		gone.MessageID = "0100000000000-00000000-0000-0000-0000-000000000000-000000"
		notMine := click
		notMine.AccountID = "999999999999"
		for _, tok := range []track.Token{gone, notMine} {
			if w := f.hit(http.MethodGet, track.ClickPath, f.codec.Encode(tok)); w.Code != http.StatusFound {
				t.Errorf("click of %+v: %d", tok, w.Code)
			}
		}
		if n := len(f.env.Events(t, event.Click)); n != 2 {
			t.Errorf("%d Click events, want 2", n)
		}
	})
}

// BenchmarkHits: tracking hits (clicks) per second, each with its event
// written, on each database.
func BenchmarkHits(b *testing.B) {
	dbtest.Dialects(b, func(b *testing.B, d *db.DB) {
		f := newFixture(b, d)
		tok := f.codec.Encode(track.Token{Click: true, AccountID: f.env.Account.ID, MessageID: f.msgID, ConfigurationSet: "news", Link: "https://shop.example.test/", Tags: "a:b"})
		b.ResetTimer()
		for b.Loop() {
			if w := f.hit(http.MethodGet, track.ClickPath, tok); w.Code != http.StatusFound {
				b.Fatal(w.Code)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
	})
}
