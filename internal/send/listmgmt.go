package send

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"maps"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/event"
)

// UnsubscribePlaceholder is the text SES replaces with the recipient's
// unsubscribe link in the text and HTML parts of a message sent with
// ListManagementOptions to a single recipient.
const UnsubscribePlaceholder = "{{amazonSESUnsubscribeUrl}}"

// maxPlaceholders is how many placeholders of one part are replaced; SES
// leaves later ones as they are.
const maxPlaceholders = 2

// Lists is what the admission door needs of subscription management
// (Options.Lists): nil refuses every ListManagementOptions as naming a list
// that does not exist.
type Lists struct {
	// MayReceive reports whether the address may be sent mail of the
	// topic ("" for none) of the account's list (contact.Store.MayReceive):
	// an unknown list or topic is an error matching ErrListNotFound or
	// ErrTopicNotFound below, as the hook reports them.
	MayReceive func(ctx context.Context, accountID, list, topic, address string) (bool, error)
	// NotFound classifies MayReceive's errors: list true when err is an
	// unknown list, topic true when it is an unknown topic.
	NotFound func(err error) (list, topic bool)
	// Links returns the List-Unsubscribe URL (https one-click) and mailto
	// address of one recipient of one message.
	Links func(l UnsubscribeLink) (url, mailto string, err error)
}

// UnsubscribeLink is what an unsubscribe link is bound to: the recipient
// of one message, the list and topic it was sent for, and the
// configuration set the message went through.
type UnsubscribeLink struct {
	AccountID, ContactList, Topic, Address string
	ConfigurationSet, MessageID            string
	Issued                                 time.Time
}

// listManagement checks ListManagementOptions for the recipients: an
// unknown list or topic is KindContactListDoesNotExist; the recipients
// that opted out (of everything or of the topic) are returned. One
// MayReceive per recipient, only for a message that names a list.
func (s *Sender) listManagement(ctx context.Context, accountID string, lm *compose.ListManagement, rcpts []string) (map[string]bool, error) {
	if s.opts.Lists == nil {
		return nil, reject(KindContactListDoesNotExist, "ListManagementOptions.ContactListName", "Contact list %s does not exist.", lm.ContactList)
	}
	var out map[string]bool
	for _, rc := range rcpts {
		ok, err := s.opts.Lists.MayReceive(ctx, accountID, lm.ContactList, lm.Topic, rc)
		if err != nil {
			if l, t := s.opts.Lists.NotFound(err); t {
				return nil, reject(KindContactListDoesNotExist, "ListManagementOptions.TopicName", "Topic %s does not exist in contact list %s.", lm.Topic, lm.ContactList)
			} else if l {
				return nil, reject(KindContactListDoesNotExist, "ListManagementOptions.ContactListName", "Contact list %s does not exist.", lm.ContactList)
			}
			return nil, fmt.Errorf("send: contact list check: %w", err)
		}
		if !ok {
			if out == nil {
				out = map[string]bool{}
			}
			out[rc] = true
		}
	}
	return out, nil
}

// withPlaceholder returns data with the unsubscribe placeholder as the
// value of its own name, so that a template using it renders it back as
// it is (it is replaced afterwards, as in a Simple message) rather than
// failing for a missing attribute. A value the caller gave is kept.
func withPlaceholder(data map[string]any) map[string]any {
	const name = "amazonSESUnsubscribeUrl"
	if _, ok := data[name]; ok {
		return data
	}
	out := make(map[string]any, len(data)+1)
	maps.Copy(out, data)
	out[name] = UnsubscribePlaceholder
	return out
}

// replacePlaceholders replaces the first maxPlaceholders placeholders of s
// with v.
func replacePlaceholders(s, v string) string {
	return strings.Replace(s, UnsubscribePlaceholder, v, maxPlaceholders)
}

// withUnsubscribeURL is simple with the placeholders of its text and HTML
// parts replaced by url (HTML-escaped in the HTML part).
func withUnsubscribeURL(simple compose.Simple, url string) compose.Simple {
	simple.Text = replacePlaceholders(simple.Text, url)
	simple.HTML = replacePlaceholders(simple.HTML, html.EscapeString(url))
	return simple
}

// hasPlaceholder reports whether simple's text or HTML has a placeholder.
func hasPlaceholder(simple *compose.Simple) bool {
	return strings.Contains(simple.Text, UnsubscribePlaceholder) || strings.Contains(simple.HTML, UnsubscribePlaceholder)
}

// withListHeaders returns msg (CRLF line endings, a header and a body)
// with its List-Unsubscribe and List-Unsubscribe-Post fields replaced by
// Sesame's — the one-click URL and the mailto address, and RFC 8058's
// One-Click — written at the end of the header, before signing. When
// rawBody is set the first maxPlaceholders placeholders of the body are
// replaced by url too (raw mail, whose parts Sesame does not decode: a
// placeholder inside a base64 part is not seen).
func withListHeaders(msg []byte, url, mailto string, rawBody bool) []byte {
	head, body := msg, []byte(nil)
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		head, body = msg[:i+2], msg[i+4:]
	} else if bytes.HasPrefix(msg, []byte("\r\n")) {
		head, body = nil, msg[2:]
	}
	var out bytes.Buffer
	out.Grow(len(msg) + len(url) + len(mailto) + 128)
	skip := false
	for len(head) > 0 {
		line := head
		if i := bytes.Index(head, []byte("\r\n")); i >= 0 {
			line = head[:i+2]
		}
		head = head[len(line):]
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') { // a continuation
			if !skip {
				out.Write(line)
			}
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		n := strings.TrimSpace(string(name))
		skip = strings.EqualFold(n, "List-Unsubscribe") || strings.EqualFold(n, "List-Unsubscribe-Post")
		if !skip {
			out.Write(line)
		}
	}
	out.WriteString("List-Unsubscribe: <" + url + ">,\r\n <mailto:" + mailto + ">\r\n")
	out.WriteString("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
	out.WriteString("\r\n")
	if rawBody {
		body = bytes.Replace(body, []byte(UnsubscribePlaceholder), []byte(url), maxPlaceholders)
	}
	out.Write(body)
	return out.Bytes()
}

// withListFields puts in mail's headers the List-Unsubscribe and
// List-Unsubscribe-Post fields withListHeaders writes into the message,
// in place of any the message had, so that the stored mail object (and
// the events that carry it) shows the fields the message went out with:
// what the bulk-sender readiness report counts. Headers already
// truncated are left as they are.
func withListFields(mail *event.Mail, url, mailto string) {
	if mail.HeadersTruncated {
		return
	}
	hs := make([]event.Header, 0, len(mail.Headers)+2)
	for _, h := range mail.Headers {
		if !strings.EqualFold(h.Name, "List-Unsubscribe") && !strings.EqualFold(h.Name, "List-Unsubscribe-Post") {
			hs = append(hs, h)
		}
	}
	hs = append(hs,
		event.Header{Name: "List-Unsubscribe", Value: "<" + url + ">, <mailto:" + mailto + ">"},
		event.Header{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"})
	event.SetHeaders(mail, hs)
}
