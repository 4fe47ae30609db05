package event

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sesame-email/sesame/internal/db"
)

// An event about a stored message does not repeat the message's mail
// object: the queue stores it once, in MailJSON's form (messages.mail_json),
// and the event row (mail_ref) keeps the event JSON with the mail object's
// value cut out, plus the tags its mail object has besides the message's
// (mail_tags). Readers (Read, and through it List and the publisher) splice
// the two back into the bytes MarshalJSON gives for the whole event.

// MailJSON returns m as the mail object of an event with configurationSet,
// byte for byte as MarshalJSON writes it inside the event: the form in
// which a message's mail object is stored, so that events can refer to it.
// DecodeMail reads it back.
func MailJSON(m *Mail, configurationSet string) ([]byte, error) {
	b, err := encode(wireMailOf(m, configurationSet))
	if err != nil {
		return nil, fmt.Errorf("event: encode mail object of %s: %w", m.MessageID, err)
	}
	return b, nil
}

// encode is v's JSON as event JSON is written (MarshalJSON, MailJSON): no
// HTML escaping, no newline.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// isWireMail tells MailJSON's form (keys in SES's order: timestamp in
// TimeLayout, then source) from Mail's own JSON encoding (timestamp, then
// messageId), in which messages were stored before events referred to
// them.
func isWireMail(b []byte) bool {
	const head = `{"timestamp":"`
	n := len(head) + len(TimeLayout)
	return len(b) > n && bytes.HasPrefix(b, []byte(head)) && bytes.HasPrefix(b[n:], []byte(`","source":`))
}

// DecodeMail reads a stored mail object: MailJSON's form (timestamps in
// milliseconds; SourceIP and CallerIdentity from their tags) or Mail's own
// JSON encoding.
func DecodeMail(b []byte) (Mail, error) {
	if !isWireMail(b) {
		var m Mail
		if err := json.Unmarshal(b, &m); err != nil {
			return Mail{}, fmt.Errorf("event: decode mail object: %w", err)
		}
		return m, nil
	}
	var w wireMail
	if err := json.Unmarshal(b, &w); err != nil {
		return Mail{}, fmt.Errorf("event: decode mail object: %w", err)
	}
	return mailOfWire(&w), nil
}

// AppendRef is Append for an event about a stored message whose mail
// object is stored (as DecodeMail returned it, or as it was given to
// MailJSON) with the message's configuration set storedSet. When e's mail
// object is stored's but for tags added or changed (ses:outgoing-ip), and
// e has the message's configuration set, the row refers to the message's
// mail object and keeps only those tags; otherwise (stored nil, or another
// mail object) it holds the whole event, as Append writes it.
func AppendRef(ctx context.Context, tx *db.Tx, e *Event, stored *Mail, storedSet string, now time.Time) (int64, error) {
	if tx == nil {
		return 0, errors.New("event: Append needs a transaction")
	}
	if now.IsZero() {
		return 0, errors.New("event: Append needs the current time")
	}
	payload, tags, ok, err := refRow(e, stored, storedSet)
	if err != nil {
		return 0, err
	}
	if !ok {
		return Append(ctx, tx, e, now)
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO events (account_id, message_id, configuration_set, event_type, payload, created_at, published_at, mail_ref, mail_tags)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id`,
		e.AccountID, e.Mail.MessageID, e.ConfigurationSet, string(e.Type), string(payload), db.Millis(now), true, tags).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("event: append %s event of %s: %w", e.Type, e.Mail.MessageID, err)
	}
	return id, nil
}

// refRow is what AppendRef stores for e when it can refer to stored (with
// storedSet): the payload without the mail object's value and the tags
// the event has besides stored's (empty for none); not ok when e's row
// must hold the whole event.
func refRow(e *Event, stored *Mail, storedSet string) (payload []byte, tags string, ok bool, err error) {
	if stored == nil || e.ConfigurationSet != storedSet || !sameMail(&e.Mail, stored) {
		return nil, "", false, nil
	}
	extra, ok := extraTags(wireTags(e.Mail.Tags, e.ConfigurationSet), wireTags(stored.Tags, storedSet))
	if !ok || !plainMail(&e.Mail) {
		return nil, "", false, nil
	}
	if err := e.Validate(); err != nil {
		return nil, "", false, err
	}
	b, err := encode(wireWith(e, json.RawMessage(`0`)))
	if err != nil {
		return nil, "", false, fmt.Errorf("event: encode %s event of %s: %w", e.Type, e.Mail.MessageID, err)
	}
	// Cut the placeholder 0 out: the payload is the event JSON with the
	// mail object's value missing, where Read puts it back.
	k := mailAt(b)
	if k < 0 || k >= len(b) || b[k] != '0' {
		return nil, "", false, fmt.Errorf("event: encode %s event of %s: no mail object in %q", e.Type, e.Mail.MessageID, b)
	}
	payload = append(b[:k:k], b[k+1:]...)
	if len(extra) > 0 {
		t, err := encode(extra)
		if err != nil {
			return nil, "", false, fmt.Errorf("event: encode tags of %s event of %s: %w", e.Type, e.Mail.MessageID, err)
		}
		tags = string(t)
	}
	return payload, tags, true, nil
}

// mailAt returns where the mail object's value starts in an event's JSON
// ({"eventType":"...","mail":...), or -1. The eventType before it is one
// of Types, which hold no quote, so the first "mail": is the key.
func mailAt(b []byte) int {
	const key = `"mail":`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return -1
	}
	return i + len(key)
}

// sameMail reports whether a and b are the same mail object but for their
// tags, as far as an event's JSON shows (the timestamp to the millisecond;
// SourceIP and CallerIdentity are not in it).
func sameMail(a, b *Mail) bool {
	return a.Timestamp.UnixMilli() == b.Timestamp.UnixMilli() && a.MessageID == b.MessageID && a.Source == b.Source &&
		a.SourceArn == b.SourceArn && a.SendingAccountID == b.SendingAccountID &&
		slices.Equal(a.Destination, b.Destination) && a.HeadersTruncated == b.HeadersTruncated &&
		slices.Equal(a.Headers, b.Headers) && sameCommon(&a.CommonHeaders, &b.CommonHeaders)
}

func sameCommon(a, b *CommonHeaders) bool {
	return slices.Equal(a.From, b.From) && slices.Equal(a.To, b.To) && slices.Equal(a.Cc, b.Cc) &&
		slices.Equal(a.Bcc, b.Bcc) && slices.Equal(a.ReplyTo, b.ReplyTo) && a.MessageID == b.MessageID &&
		a.Date == b.Date && a.Subject == b.Subject && a.ReturnPath == b.ReturnPath
}

// extraTags returns the tags of have that stored lacks or has with other
// values; not ok when stored has a tag that have lacks (a splice only adds
// and replaces).
func extraTags(have, stored map[string][]string) (map[string][]string, bool) {
	var extra map[string][]string
	for k, v := range have {
		if sv, ok := stored[k]; ok && slices.Equal(sv, v) {
			continue
		}
		if extra == nil {
			extra = map[string][]string{}
		}
		extra[k] = v
	}
	for k := range stored {
		if _, ok := have[k]; !ok {
			return nil, false
		}
	}
	return extra, true
}

// plainMail reports whether every string of m that its JSON holds is
// valid UTF-8 without U+FFFD. encoding/json writes an invalid byte as
// \ufffd and reads it back as U+FFFD, which it writes as itself: the mail
// object of an event made from a decoded one (deliver's, feedback's) would
// not be spelled as the stored bytes, nor would tags that Read decodes and
// encodes again to merge. Such a mail object is stored whole. sameMail
// holds e's strings equal to the stored mail object's but for tags, which
// e has all of, so checking e's covers both.
func plainMail(m *Mail) bool {
	ok := func(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, utf8.RuneError) }
	all := func(ss []string) bool {
		for _, s := range ss {
			if !ok(s) {
				return false
			}
		}
		return true
	}
	c := &m.CommonHeaders
	if !ok(m.MessageID) || !ok(m.Source) || !ok(m.SourceArn) || !ok(m.SendingAccountID) || !all(m.Destination) ||
		!all(c.From) || !all(c.To) || !all(c.Cc) || !all(c.Bcc) || !all(c.ReplyTo) ||
		!ok(c.MessageID) || !ok(c.Date) || !ok(c.Subject) || !ok(c.ReturnPath) {
		return false
	}
	for _, h := range m.Headers {
		if !ok(h.Name) || !ok(h.Value) {
			return false
		}
	}
	for k, vs := range m.Tags {
		if !ok(k) || !all(vs) {
			return false
		}
	}
	return true
}

// splice returns the whole event JSON of a row that refers to its
// message's mail object: payload with the mail object put back, the
// message's mail (mailJSON, stored with the row's configurationSet) with
// the row's tags merged in.
func splice(payload, mailJSON []byte, tags, configurationSet string) ([]byte, error) {
	mail := mailJSON
	if !isWireMail(mail) && string(mail) != "null" {
		// Stored before mail objects were stored in their event form.
		m, err := DecodeMail(mail)
		if err != nil {
			return nil, err
		}
		if mail, err = MailJSON(&m, configurationSet); err != nil {
			return nil, err
		}
	}
	if tags != "" && string(mail) != "null" {
		var err error
		if mail, err = mergeTags(mail, tags); err != nil {
			return nil, err
		}
	}
	k := mailAt(payload)
	if k < 0 {
		return nil, errors.New("event: stored payload has no mail key")
	}
	out := make([]byte, 0, len(payload)+len(mail))
	out = append(out, payload[:k]...)
	out = append(out, mail...)
	return append(out, payload[k:]...), nil
}

// tagsKey precedes the tags in MailJSON's form: they are its last member,
// after commonHeaders (an object). It occurs nowhere else: a quote inside a
// string is escaped, and within tags every value is an array.
const tagsKey = `},"tags":`

// mergeTags returns mail (MailJSON's form) with tags (a JSON object) added
// to its tags, replacing those of the same names: as encoding/json writes
// the merged map, with its keys sorted.
func mergeTags(mail []byte, tags string) ([]byte, error) {
	i := bytes.Index(mail, []byte(tagsKey))
	if i < 0 || mail[len(mail)-1] != '}' {
		return nil, errors.New("event: stored mail object has no tags")
	}
	start := i + len(tagsKey)
	var have, extra map[string][]string
	if err := json.Unmarshal(mail[start:len(mail)-1], &have); err != nil {
		return nil, fmt.Errorf("event: stored mail tags: %w", err)
	}
	if err := json.Unmarshal([]byte(tags), &extra); err != nil {
		return nil, fmt.Errorf("event: stored event tags: %w", err)
	}
	if have == nil {
		have = map[string][]string{}
	}
	for k, v := range extra {
		have[k] = v
	}
	enc, err := encode(have)
	if err != nil {
		return nil, fmt.Errorf("event: merge tags: %w", err)
	}
	out := make([]byte, 0, start+len(enc)+1)
	out = append(out, mail[:start]...)
	out = append(out, enc...)
	return append(out, '}'), nil
}

// readColumns are what Read selects, events aliased e: a row's mail_json
// is its message's when the row refers to it.
const readColumns = `SELECT e.id, e.account_id, e.message_id, e.configuration_set, e.event_type, e.payload, e.created_at, e.published_at, e.mail_ref, e.mail_tags, m.mail_json
	FROM events e LEFT JOIN messages m ON e.mail_ref AND m.id = e.message_id`

// Read returns the outbox rows where (a condition on events, aliased e,
// with args) selects, followed by tail (ORDER BY, LIMIT, locking: the
// caller's), each with its whole Payload: a row that refers to its
// message's mail object gets it spliced back. It is the one reader of the
// events table (List, the publisher).
func Read(ctx context.Context, q db.Querier, where string, args []any, tail string) ([]Stored, error) {
	rows, err := q.Query(ctx, readColumns+` WHERE `+where+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("event: read: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var s Stored
		var typ, payload, tags string
		var mail []byte
		var created, published int64
		var ref bool
		if err := rows.Scan(&s.ID, &s.AccountID, &s.MessageID, &s.ConfigurationSet, &typ, &payload, &created, &published, &ref, &tags, &mail); err != nil {
			return nil, fmt.Errorf("event: read: %w", err)
		}
		s.Type, s.Payload = Type(typ), []byte(payload)
		s.CreatedAt, s.PublishedAt = db.Time(created), db.Time(published)
		if ref && mail == nil {
			// The message is gone without Inline having run (a row
			// written by hand): its mail object is lost, the rest kept.
			mail = []byte("null")
			tags = ""
		}
		if ref {
			if s.Payload, err = splice(s.Payload, mail, tags, s.ConfigurationSet); err != nil {
				return nil, fmt.Errorf("event %d: %w", s.ID, err)
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("event: read: %w", err)
	}
	return out, nil
}

// Inline writes the whole payload into every event that refers to the
// mail object of one of messageIDs, in tx: for the queue, before it
// deletes those messages, so that no event is left referring to a mail
// object that is gone.
func Inline(ctx context.Context, tx *db.Tx, messageIDs []string) error {
	if len(messageIDs) == 0 {
		return nil
	}
	args := make([]any, len(messageIDs))
	for i, id := range messageIDs {
		args[i] = id
	}
	where := `e.mail_ref AND e.message_id IN (?` + strings.Repeat(", ?", len(messageIDs)-1) + `)`
	rows, err := Read(ctx, tx, where, args, `ORDER BY e.id`)
	if err != nil {
		return err
	}
	for _, s := range rows {
		if _, err := tx.Exec(ctx, `UPDATE events SET payload = ?, mail_ref = ?, mail_tags = '' WHERE id = ?`, string(s.Payload), false, s.ID); err != nil {
			return fmt.Errorf("event: write the mail object into event %d: %w", s.ID, err)
		}
	}
	return nil
}
