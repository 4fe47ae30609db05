package unsub

import (
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/sesame-email/sesame/internal/contact"
)

// maxForm bounds a POST's body: the one-click body is 26 bytes, the
// preference page's form a few hundred.
const maxForm = 16 << 10

// Handler serves Path on the public listener:
//
//   - POST with the form body List-Unsubscribe=One-Click (RFC 8058, as a
//     mailbox provider sends it: no cookies, no login, no redirect)
//     unsubscribes at once and answers 200 with a short plain text;
//   - GET shows the preference page (it changes nothing: link scanners
//     fetch links);
//   - POST with the page's form (action leave, all, save or resubscribe)
//     changes what it says and shows the page again.
//
// The token in the query (t) is the only authority: the forms carry it,
// nothing is kept in cookies. A token that is not genuine, or whose list
// is gone, gets the same plain 400 page whatever the reason, and nothing
// changes.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the URL is the credential
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		h.Set("Allow", "GET, HEAD, POST")
		plain(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	t, err := s.opts.Codec.Decode(r.URL.Query().Get("t"))
	if err != nil {
		badLink(w)
		return
	}
	if r.Method != http.MethodPost {
		s.page(w, r, t, "")
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		plain(w, http.StatusBadRequest, "The request could not be read.")
		return
	}
	if form.Get("List-Unsubscribe") == "One-Click" {
		switch err := s.OneClick(r.Context(), t, SourceHeader); {
		case errors.Is(err, ErrGone):
			badLink(w)
		case err != nil:
			s.log.Error("one-click unsubscribe failed", "account", t.AccountID, "message_id", t.MessageID, "err", err)
			plain(w, http.StatusInternalServerError, "Something went wrong on our side; try again later.")
		default:
			what := "this mailing list"
			if t.Topic != "" {
				what = "this topic of the mailing list"
			}
			plain(w, http.StatusOK, "You are unsubscribed from "+what+".")
		}
		return
	}
	var done string
	_, err = s.change(r.Context(), t, SourceLink, func(l *contact.List, c *contact.Contact) error {
		switch form.Get("action") {
		case "leave": // one topic
			done = "You left the topic."
			return setTopic(l, c, form.Get("topic"), contact.OptOut)
		case "all":
			done = "You are unsubscribed from everything on this list."
			c.UnsubscribeAll = true
		case "resubscribe":
			done = "Welcome back: you are subscribed again."
			c.UnsubscribeAll = false
			if t.Topic != "" {
				return setTopic(l, c, t.Topic, contact.OptIn)
			}
		case "save":
			done = "Your preferences are saved."
			c.UnsubscribeAll = false
			on := form["topic"]
			for _, tp := range l.Topics {
				st := contact.OptOut
				for _, n := range on {
					if n == tp.TopicName {
						st = contact.OptIn
					}
				}
				if err := setTopic(l, c, tp.TopicName, st); err != nil {
					return err
				}
			}
		default:
			return errBadAction
		}
		return nil
	})
	switch {
	case errors.Is(err, errBadAction):
		plain(w, http.StatusBadRequest, "The request could not be read.")
	case errors.Is(err, ErrGone):
		badLink(w)
	case err != nil:
		s.log.Error("preference change failed", "account", t.AccountID, "message_id", t.MessageID, "err", err)
		plain(w, http.StatusInternalServerError, "Something went wrong on our side; try again later.")
	default:
		s.page(w, r, t, done)
	}
}

var errBadAction = errors.New("unsub: unknown action")

// readForm reads a POST's urlencoded or multipart form body (RFC 8058
// allows either), at most maxForm bytes.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		if params["boundary"] == "" {
			return nil, errors.New("no boundary")
		}
		if err := r.ParseMultipartForm(maxForm); err != nil {
			return nil, err
		}
		return r.MultipartForm.Value, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(strings.TrimSpace(string(b)))
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// badLink is the one answer to every link that cannot be honoured.
func badLink(w http.ResponseWriter) {
	plain(w, http.StatusBadRequest, "This unsubscribe link is not valid. Check that you opened the whole link from the message.")
}

// topicRow is one topic on the page.
type topicRow struct {
	Name, DisplayName, Description string
	Subscribed                     bool
	Linked                         bool // the topic the message was sent for
}

type pageData struct {
	Token, List, Description, Done string
	All                            bool
	Topics                         []topicRow
}

// page shows the recipient's subscription to the token's list.
func (s *Service) page(w http.ResponseWriter, r *http.Request, t Token, done string) {
	l, err := s.opts.Contacts.GetList(r.Context(), t.AccountID, t.ContactList)
	if errors.Is(err, contact.ErrNotFound) {
		badLink(w)
		return
	}
	if err != nil {
		s.log.Error("preference page failed", "account", t.AccountID, "err", err)
		plain(w, http.StatusInternalServerError, "Something went wrong on our side; try again later.")
		return
	}
	c, err := s.opts.Contacts.GetContact(r.Context(), t.AccountID, t.ContactList, t.Address)
	switch {
	case errors.Is(err, contact.ErrNotFound):
		c = &contact.Contact{} // not a contact: the list's defaults
	case errors.Is(err, contact.ErrInvalid):
		badLink(w)
		return
	case err != nil:
		s.log.Error("preference page failed", "account", t.AccountID, "err", err)
		plain(w, http.StatusInternalServerError, "Something went wrong on our side; try again later.")
		return
	}
	d := pageData{Token: r.URL.Query().Get("t"), List: l.Name, Description: l.Description, Done: done, All: c.UnsubscribeAll}
	for _, tp := range l.Topics {
		cc := *c
		cc.UnsubscribeAll = false
		d.Topics = append(d.Topics, topicRow{Name: tp.TopicName, DisplayName: tp.DisplayName, Description: tp.Description,
			Subscribed: cc.Status(tp) == contact.OptIn, Linked: tp.TopicName == t.Topic})
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if err := pageTemplate.Execute(w, d); err != nil {
		s.log.Warn("preference page not written", "err", err)
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Subscription preferences</title>
<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.4}
.done{background:#e8f5e9;padding:.5em 1em}fieldset{border:1px solid #ccc;margin:1em 0}button{margin:.25em 0}</style>
</head><body>
<h1>Subscription preferences</h1>
<p>Mailing list <strong>{{.List}}</strong>{{if .Description}}: {{.Description}}{{end}}</p>
{{if .Done}}<p class="done" role="status">{{.Done}}</p>{{end}}
{{if .All}}
<p>You are unsubscribed from everything on this list.</p>
<form method="post" action="?t={{.Token}}"><input type="hidden" name="action" value="resubscribe"><button type="submit">Subscribe again</button></form>
{{else}}
{{if .Topics}}
<form method="post" action="?t={{.Token}}"><fieldset><legend>Topics you receive</legend>
{{range .Topics}}<p><label><input type="checkbox" name="topic" value="{{.Name}}"{{if .Subscribed}} checked{{end}}> {{.DisplayName}}</label>{{if .Description}}<br><small>{{.Description}}</small>{{end}}</p>
{{end}}<input type="hidden" name="action" value="save"><button type="submit">Save preferences</button></fieldset></form>
{{range .Topics}}{{if and .Linked .Subscribed}}<form method="post" action="?t={{$.Token}}"><input type="hidden" name="action" value="leave"><input type="hidden" name="topic" value="{{.Name}}"><button type="submit">Leave only “{{.DisplayName}}”</button></form>{{end}}{{end}}
{{end}}
<form method="post" action="?t={{.Token}}"><input type="hidden" name="action" value="all"><button type="submit">Unsubscribe from everything</button></form>
{{end}}
</body></html>
`))
