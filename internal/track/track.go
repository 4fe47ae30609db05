// Package track is open and click tracking for mail sent through a
// configuration set with an enabled OPEN or CLICK event destination, as
// SES has it: the rewriting of a message's HTML parts before signing (an
// open pixel at the end of each HTML body, its http and https links
// replaced by tracking links, <a ses:no-track> left alone, ses:tags kept
// as the link's tags, ses:* attributes removed), the stateless signed
// tokens of those URLs, and the public endpoints that serve the pixel and
// redirect a click, recording Open and Click events.
//
// A token is bound to the account, the MessageId and the configuration
// set, and a click token to the exact original URL and its tags: the
// redirect goes only to the URL inside a genuine token, so nothing can
// turn a tracking link into an open redirect, and a forged, altered or
// swapped token is refused (400) before the database is read. Every GET
// of a genuine URL is recorded, as SES records link scanners' fetches
// too; a HEAD records nothing. An event about a message no longer stored
// (pruned) is not recorded: its mail object is gone, and an event without
// one is not SES's; the pixel is still served and the click still
// redirected.
package track

import (
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/send"
)

// The public endpoints' paths: <host>/t/o?t=<token> serves the pixel,
// <host>/t/c?t=<token> redirects.
const (
	OpenPath  = "/t/o"
	ClickPath = "/t/c"
)

// Options configures a Service.
type Options struct {
	DB    *db.DB // required: the messages and the event outbox
	Codec *Codec // required
	// PublicURL is the deployment's public base URL (required): the
	// tracking links' base, scheme included, when a set has no
	// CustomRedirectDomain (HttpsPolicy then has nothing to choose), and
	// its scheme the pixel's under a CustomRedirectDomain with HttpsPolicy
	// OPTIONAL.
	PublicURL string
	Now       func() time.Time // nil: time.Now
	Logger    *slog.Logger     // nil: discard
	// Recorded, when set, is called after an event has been committed
	// (the app wakes the publisher).
	Recorded func()
}

// Service rewrites messages and serves the tracking endpoints. It is safe
// for concurrent use.
type Service struct {
	opts   Options
	public *url.URL
	now    func() time.Time
	log    *slog.Logger
}

// New returns a Service.
func New(opts Options) (*Service, error) {
	if opts.DB == nil || opts.Codec == nil || opts.PublicURL == "" {
		return nil, errors.New("track: DB, Codec and PublicURL are required")
	}
	u, err := url.Parse(strings.TrimSuffix(opts.PublicURL, "/"))
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("track: PublicURL %q is not an http or https URL", opts.PublicURL)
	}
	s := &Service{opts: opts, public: u, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// base returns scheme://host[/path] of the tracking URLs of a message:
// under a CustomRedirectDomain, with scheme; else the public URL as it is,
// whatever scheme asks, since the public listener serves only its own
// scheme on its port (https://<an http port> would be a dead link).
func (s *Service) base(scheme string, o *configset.TrackingOptions) string {
	if o != nil && o.CustomRedirectDomain != "" {
		return scheme + "://" + o.CustomRedirectDomain
	}
	return s.public.Scheme + "://" + s.public.Host + s.public.Path
}

// Rewrite is the admission door's tracking hook (send.Options.Track):
// msg with its HTML parts rewritten for t (see the package doc). A
// message without an HTML part comes back as it is.
func (s *Service) Rewrite(t send.Tracking, msg []byte) ([]byte, error) {
	if !t.Open && !t.Click {
		return msg, nil
	}
	policy := configset.HTTPSOptional
	if t.Options != nil && t.Options.HTTPSPolicy != "" {
		policy = t.Options.HTTPSPolicy
	}
	tok := Token{AccountID: t.AccountID, MessageID: t.MessageID, ConfigurationSet: t.ConfigurationSet}
	var pixel string
	if t.Open {
		scheme := s.public.Scheme
		if policy != configset.HTTPSOptional {
			scheme = "https"
		}
		src := s.base(scheme, t.Options) + OpenPath + "?t=" + s.opts.Codec.Encode(tok)
		pixel = `<img alt="" src="` + html.EscapeString(src) + `" width="1" height="1" style="display:block;width:1px;height:1px;border:0">`
	}
	var link linker
	if t.Click {
		https, plain := s.base("https", t.Options), ""
		if policy != configset.HTTPSRequire {
			plain = s.base("http", t.Options)
		}
		link = func(u, tags string) string {
			c := tok
			c.Click, c.Link, c.Tags = true, u, tags
			b := https
			if plain != "" && !strings.HasPrefix(strings.ToLower(u), "https:") {
				b = plain
			}
			return b + ClickPath + "?t=" + s.opts.Codec.Encode(c)
		}
	}
	return rewriteMessage(msg, func(h []byte) []byte { return rewriteHTML(h, link, pixel) }), nil
}

// pixelGIF is a 1×1 transparent GIF.
var pixelGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// Handler serves OpenPath and ClickPath on the public listener.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serve) }

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	t, err := s.opts.Codec.Decode(r.URL.Query().Get("t"))
	if err != nil || t.Click != (r.URL.Path == ClickPath) {
		plain(w, http.StatusBadRequest, "This link is not valid.")
		return
	}
	if r.Method == http.MethodGet {
		s.record(r, t)
	}
	if t.Click {
		h.Set("Location", t.Link)
		w.WriteHeader(http.StatusFound)
		return
	}
	h.Set("Content-Type", "image/gif")
	h.Set("Content-Length", fmt.Sprint(len(pixelGIF)))
	if r.Method == http.MethodGet {
		w.Write(pixelGIF)
	}
}

// record appends the Open or Click event of a genuine token's fetch, with
// the message's stored mail object. Failing to is logged, never shown:
// the recipient still gets the pixel or the redirect.
func (s *Service) record(r *http.Request, t Token) {
	now := s.now()
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	ev := &event.Event{AccountID: t.AccountID, ConfigurationSet: t.ConfigurationSet}
	if t.Click {
		ev.Type = event.Click
		ev.Click = &event.ClickDetails{IPAddress: ip, Timestamp: now, UserAgent: r.UserAgent(), Link: t.Link, LinkTags: LinkTags(t.Tags)}
	} else {
		ev.Type = event.Open
		ev.Open = &event.OpenDetails{IPAddress: ip, Timestamp: now, UserAgent: r.UserAgent()}
	}
	err := s.opts.DB.InTx(r.Context(), func(tx *db.Tx) error {
		acct, set, mail, err := queue.StoredMail(r.Context(), tx, t.MessageID)
		if err != nil {
			return err
		}
		if acct != t.AccountID || set != t.ConfigurationSet {
			return fmt.Errorf("%w: %s is not this token's message", queue.ErrNotFound, t.MessageID)
		}
		ev.Mail = mail
		_, err = event.AppendRef(r.Context(), tx, ev, &mail, set, now)
		return err
	})
	switch {
	case errors.Is(err, queue.ErrNotFound):
		s.log.Debug("tracking hit for a message no longer stored: not recorded", "account", t.AccountID, "message_id", t.MessageID, "event", ev.Type)
	case err != nil:
		s.log.Error("recording a tracking event failed", "account", t.AccountID, "message_id", t.MessageID, "event", ev.Type, "err", err)
	default:
		if s.opts.Recorded != nil {
			s.opts.Recorded()
		}
	}
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
