package sns

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// The message types of SNS's HTTP/S protocol (x-amz-sns-message-type and
// the body's Type).
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
	TypeUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// UserAgent is the User-Agent of HTTP/S deliveries, as SNS sends it.
const UserAgent = "Amazon Simple Notification Service Agent"

// tokenLifetime is how long a confirmation token is valid, as in SNS.
const tokenLifetime = 3 * 24 * time.Hour

// timestampFormat is SNS's Timestamp: ISO 8601 UTC with milliseconds.
const timestampFormat = "2006-01-02T15:04:05.000Z"

// field is one member of a message's JSON body.
type field struct{ k, v string }

// encodeMessage writes a message body as SNS does: one member a line,
// `"Key" : "value"`, in the given order, strings escaped as JSON (HTML
// characters left alone).
func encodeMessage(fields []field) []byte {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, f := range fields {
		b.WriteString("  ")
		b.Write(jsonString(f.k))
		b.WriteString(" : ")
		b.Write(jsonString(f.v))
		if i < len(fields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}")
	return b.Bytes()
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// signed completes a message's fields with SignatureVersion, Signature
// and SigningCertURL (and any after, e.g. UnsubscribeURL), signing the
// string to sign of fields; unsigned (sign false) leaves Signature out,
// for Sign to add (an HTTP/S delivery is signed by the push queue's
// worker, out of the publishing transaction).
func (s *Store) signed(sign bool, version string, fields []field, after ...field) ([]field, error) {
	var sig []field
	if sign {
		m := make(map[string]string, len(fields))
		for _, f := range fields {
			m[f.k] = f.v
		}
		v, err := s.signer.sign(version, StringToSign(m))
		if err != nil {
			return nil, err
		}
		sig = []field{{"Signature", v}}
	} else if _, err := signatureHash(version); err != nil {
		return nil, err
	}
	fields = append(fields, field{"SignatureVersion", version})
	fields = append(fields, sig...)
	fields = append(fields, field{"SigningCertURL", s.SigningCertURL()})
	return append(fields, after...), nil
}

// Sign completes a message body queued unsigned for an HTTP/S delivery
// (push.Delivery.Sign) with its Signature, made per the body's
// SignatureVersion over its string to sign, placed where SNS has it (after
// SignatureVersion, before SigningCertURL); the rest of the body is kept
// byte for byte. A body that has a Signature already is returned as it
// is. It is the push queue's Options.Sign: RSA work on the workers, not in
// the publishing transaction.
func (s *Store) Sign(body []byte) ([]byte, error) {
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("sns: sign: the body is not a message: %w", err)
	}
	if _, ok := m["Signature"]; ok {
		return body, nil
	}
	version, ok := m["SignatureVersion"]
	if !ok {
		return nil, errors.New("sns: sign: the body has no SignatureVersion")
	}
	// A value's newlines are escaped, so a line that starts with this is
	// the member itself.
	mark := []byte("\n  " + `"SignatureVersion" : ` + string(jsonString(version)) + ",\n")
	i := bytes.Index(body, mark)
	if i < 0 {
		return nil, errors.New("sns: sign: the body is not in SNS's layout")
	}
	sig, err := s.signer.sign(version, StringToSign(m))
	if err != nil {
		return nil, err
	}
	i += len(mark)
	out := make([]byte, 0, len(body)+len(sig)+24)
	out = append(out, body[:i]...)
	out = append(out, `  "Signature" : `...)
	out = append(out, jsonString(sig)...)
	out = append(out, ",\n"...)
	return append(out, body[i:]...), nil
}

// newToken returns a confirmation token and its stored hash.
func newToken() (token, hash string) {
	var b [32]byte
	rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	return token, hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Store) subscribeURL(topicARN, token string) string {
	return s.publicURL + pathConfirm + "?" + url.Values{"Action": {"ConfirmSubscription"}, "TopicArn": {topicARN}, "Token": {token}}.Encode()
}

func (s *Store) unsubscribeURL(subARN string) string {
	return s.publicURL + pathUnsubscribe + "?" + url.Values{"Action": {"Unsubscribe"}, "SubscriptionArn": {subARN}, "Token": {s.signer.unsubscribeToken(subARN)}}.Encode()
}

// PublishTx publishes a message to a topic of the account in the caller's
// transaction: one delivery per confirmed subscription, queued with the
// push queue (http, https) or as a system mail (email, email-json). It
// returns the message's id; an error wrapping ErrTopicNotFound when the
// topic does not exist in the account.
func (s *Store) PublishTx(ctx context.Context, tx *db.Tx, accountID, topicARN, subject, message string) (string, error) {
	return s.publishTx(ctx, tx, accountID, topicARN, subject, map[string]string{"default": message})
}

// Publish is PublishTx in a transaction of its own.
func (s *Store) Publish(ctx context.Context, accountID, topicARN, subject, message string) (string, error) {
	var id string
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		id, err = s.PublishTx(ctx, tx, accountID, topicARN, subject, message)
		return err
	})
	return id, err
}

// publishTx publishes a message given per protocol ("default" for the
// protocols not named).
func (s *Store) publishTx(ctx context.Context, tx *db.Tx, accountID, topicARN, subject string, messages map[string]string) (string, error) {
	t, err := getTopic(ctx, tx, accountID, topicARN)
	if err != nil {
		return "", err
	}
	subs, err := listSubs(ctx, tx, `topic_arn = ? AND state = ? ORDER BY arn`, topicARN, stateConfirmed)
	if err != nil {
		return "", err
	}
	id := sesapi.NewRequestID()
	ts := s.now().UTC().Format(timestampFormat)
	for _, u := range subs {
		msg, ok := messages[u.Protocol]
		if !ok {
			msg = messages["default"]
		}
		if err := s.notify(ctx, tx, t, u, id, ts, subject, msg); err != nil {
			return "", err
		}
	}
	return id, nil
}

// notificationBody is the JSON of a Notification, signed or (for Sign to
// complete) not.
func (s *Store) notificationBody(sign bool, t *topic, u *subscription, id, ts, subject, msg string) ([]byte, error) {
	fields := []field{{"Type", TypeNotification}, {"MessageId", id}, {"TopicArn", t.ARN}}
	if subject != "" {
		fields = append(fields, field{"Subject", subject})
	}
	fields = append(fields, field{"Message", msg}, field{"Timestamp", ts})
	fields, err := s.signed(sign, t.signatureVersion(), fields, field{"UnsubscribeURL", s.unsubscribeURL(u.ARN)})
	if err != nil {
		return nil, err
	}
	return encodeMessage(fields), nil
}

// notify delivers one notification to one subscription.
func (s *Store) notify(ctx context.Context, tx *db.Tx, t *topic, u *subscription, id, ts, subject, msg string) error {
	switch u.Protocol {
	case "http", "https":
		var body []byte
		h := s.headers(t, u, TypeNotification, id, true)
		if u.raw() {
			body = []byte(msg)
			h.Set("x-amz-sns-rawdelivery", "true")
			return s.push(ctx, tx, t, u, h, body, false)
		}
		// Queued unsigned: the push queue's worker signs it (Sign) just
		// before each POST, out of this transaction.
		body, err := s.notificationBody(false, t, u, id, ts, subject, msg)
		if err != nil {
			return err
		}
		return s.push(ctx, tx, t, u, h, body, true)
	case "email":
		subj := subject
		if subj == "" {
			subj = "Sesame Notification Message"
		}
		text := msg + "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:\n" +
			s.unsubscribeURL(u.ARN) + "\n\nPlease do not reply directly to this email. It was sent by Sesame's notification service for topic " + t.ARN + ".\n"
		return s.mail(ctx, tx, t, u, subj, text)
	case "email-json":
		body, err := s.notificationBody(true, t, u, id, ts, subject, msg)
		if err != nil {
			return err
		}
		subj := subject
		if subj == "" {
			subj = "Sesame Notification Message"
		}
		return s.mail(ctx, tx, t, u, subj, string(body))
	}
	return fmt.Errorf("sns: subscription %s has protocol %q", u.ARN, u.Protocol)
}

// headers are an HTTP/S delivery's headers but Content-Type, which push
// sets from the delivery policy.
func (s *Store) headers(t *topic, u *subscription, typ, id string, withSub bool) http.Header {
	h := http.Header{}
	h.Set("User-Agent", UserAgent)
	h.Set("x-amz-sns-message-type", typ)
	h.Set("x-amz-sns-message-id", id)
	h.Set("x-amz-sns-topic-arn", t.ARN)
	if withSub {
		h.Set("x-amz-sns-subscription-arn", u.ARN)
	}
	return h
}

var errNoPush = errors.New("sns: no push queue: cannot deliver to http/https subscriptions")
var errNoMail = errors.New("sns: no system mail: cannot deliver to email subscriptions")

// push queues an HTTP/S delivery under the subscription's effective
// delivery policy (its retries, and h's Content-Type); sign: the body is
// to be completed by Sign before each POST.
func (s *Store) push(ctx context.Context, tx *db.Tx, t *topic, u *subscription, h http.Header, body []byte, sign bool) error {
	if s.opts.Push == nil {
		return errNoPush
	}
	e := effective(t.Attrs["DeliveryPolicy"], u.Attrs["DeliveryPolicy"])
	h.Set("Content-Type", *e.RequestPolicy.HeaderContentType)
	d := push.Delivery{AccountID: t.AccountID, TopicARN: t.ARN, SubscriptionARN: u.ARN, Endpoint: u.Endpoint, Header: h, Body: body, Sign: sign,
		Policy: e.pushPolicy()}
	if u.State == stateDeleted {
		d.SubscriptionARN = "" // the UnsubscribeConfirmation goes out after the subscription
	}
	if err := s.opts.Push(ctx, tx, d); err != nil {
		return fmt.Errorf("sns: queue delivery to %s: %w", u.ARN, err)
	}
	return nil
}

func (s *Store) mail(ctx context.Context, tx *db.Tx, t *topic, u *subscription, subject, text string) error {
	if s.opts.Mail == nil {
		return errNoMail
	}
	if err := s.opts.Mail(ctx, tx, t.AccountID, u.Endpoint, subject, text); err != nil {
		return fmt.Errorf("sns: mail %s: %w", u.ARN, err)
	}
	return nil
}

// confirmation sends a SubscriptionConfirmation (or, for a deleted
// subscription, an UnsubscribeConfirmation) carrying token.
func (s *Store) confirmation(ctx context.Context, tx *db.Tx, t *topic, u *subscription, token string) error {
	typ := TypeSubscriptionConfirmation
	msg := "You have chosen to subscribe to the topic " + t.ARN + ".\nTo confirm the subscription, visit the SubscribeURL included in this message."
	if u.State == stateDeleted {
		typ = TypeUnsubscribeConfirmation
		msg = "You have chosen to deactivate subscription " + u.ARN + ".\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message."
	}
	id := sesapi.NewRequestID()
	subURL := s.subscribeURL(t.ARN, token)
	body := func(sign bool) ([]byte, error) {
		fields, err := s.signed(sign, t.signatureVersion(), []field{{"Type", typ}, {"MessageId", id}, {"Token", token}, {"TopicArn", t.ARN},
			{"Message", msg}, {"SubscribeURL", subURL}, {"Timestamp", s.now().UTC().Format(timestampFormat)}})
		if err != nil {
			return nil, err
		}
		return encodeMessage(fields), nil
	}
	switch u.Protocol {
	case "http", "https":
		b, err := body(false) // signed by the push queue's worker
		if err != nil {
			return err
		}
		return s.push(ctx, tx, t, u, s.headers(t, u, typ, id, typ == TypeUnsubscribeConfirmation), b, true)
	case "email":
		if typ != TypeSubscriptionConfirmation {
			return nil // SNS mails no unsubscribe confirmation
		}
		name := t.Attrs["DisplayName"]
		if name == "" {
			name = t.Name
		}
		text := "You have chosen to subscribe to the topic:\n" + t.ARN + "\n\nTo confirm this subscription, click or visit the link below (If this was in error no action is necessary):\n" +
			subURL + "\n\nPlease do not reply directly to this email. It was sent by Sesame's notification service.\n"
		return s.mail(ctx, tx, t, u, name+" - Subscription Confirmation", text)
	case "email-json":
		if typ != TypeSubscriptionConfirmation {
			return nil
		}
		b, err := body(true)
		if err != nil {
			return err
		}
		return s.mail(ctx, tx, t, u, "Sesame Notification - Subscription Confirmation", string(b))
	}
	return fmt.Errorf("sns: subscription %s has protocol %q", u.ARN, u.Protocol)
}

// sendConfirmation gives a pending (or deleted) subscription a fresh
// token and sends it.
func (s *Store) sendConfirmation(ctx context.Context, tx *db.Tx, t *topic, u *subscription) error {
	token, hash := newToken()
	if _, err := tx.Exec(ctx, `UPDATE sns_subscriptions SET token_hash = ?, token_expires = ? WHERE arn = ?`,
		hash, db.Millis(s.now().Add(tokenLifetime)), u.ARN); err != nil {
		return fmt.Errorf("sns: store token: %w", err)
	}
	return s.confirmation(ctx, tx, t, u, token)
}
