// Package sns is Sesame's SNS-compatible notification service: topics,
// their subscriptions and tags, per account (tables sns_topics,
// sns_subscriptions, sns_tags), the SNS Query API over them (version
// 2010-03-31), and the delivery of messages as Amazon SNS delivers them.
//
// Protocols: http and https subscriptions get SNS's HTTP/S messages
// (SubscriptionConfirmation, Notification, UnsubscribeConfirmation: JSON
// bodies with the x-amz-sns-* headers, signed with SignatureVersion 1,
// SHA1withRSA, or 2, SHA256withRSA, over SNS's documented string to sign,
// with a certificate served at SigningCertURL), or the bare message with
// RawMessageDelivery; they are handed to the push queue (Options.Push) in
// the transaction that publishes them. email and email-json subscriptions
// get the same as Sesame's own system mail (Options.Mail). Other
// protocols (sqs, lambda, sms, application, firehose) are refused.
//
// The signing key is an RSA-2048 key made once per deployment, sealed with
// Options.Box and stored in the settings table with its self-signed
// certificate; every node signs with it.
//
// Where Sesame differs from SNS (each said where it happens): a topic's
// Policy is stored and reported but access is by account only (a topic is
// seen and used by its account's keys, never another's); FilterPolicy,
// RedrivePolicy, FIFO topics, KMS encryption, message attributes and data
// protection policies are refused with a message saying so, never
// accepted without effect.
//
// The rules of creating, listing and deleting topics and of subscribing,
// unsubscribing and listing subscriptions are Store methods taking the
// caller's account (CreateTopic, Subscribe, ...), refusing with an *Error
// that carries SNS's code and sentence: the Query API's handlers and the
// web console both call them.
//
// It also keeps SES's identity notification topics (table
// sns_identity_topics), set through SES v1's SetIdentityNotificationTopic.
package sns

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/seal"
)

// Version is the SNS API version this package speaks.
const Version = "2010-03-31"

// Namespace is the XML namespace of SNS responses.
const Namespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// ErrTopicNotFound is returned (wrapped) when a topic does not exist in
// the account.
var ErrTopicNotFound = errors.New("sns: topic not found")

// Options configures a Store.
type Options struct {
	DB  *db.DB    // required
	Box *seal.Box // required: seals the signing key
	// Region is the region of the ARNs (required).
	Region string
	// PublicURL is the base URL subscribers reach Sesame at (required),
	// e.g. https://sesame.example:8443: SigningCertURL, SubscribeURL and
	// UnsubscribeURL are built from it. Validators such as npm
	// sns-validator accept only an https SigningCertURL.
	PublicURL string
	Now       func() time.Time // nil: time.Now
	Logger    *slog.Logger     // nil: discard
	// Push queues an HTTP/S delivery in the caller's transaction
	// (push.Queue.AddTx). nil: publishing to an http/https subscription
	// fails.
	Push func(ctx context.Context, tx *db.Tx, d push.Delivery) error
	// Mail queues a system mail (from Sesame's no-reply sender) in the
	// caller's transaction. nil: publishing to an email/email-json
	// subscription fails.
	Mail func(ctx context.Context, tx *db.Tx, accountID, to, subject, text string) error
	// Wake, when set, is called after an API call or link has committed
	// deliveries (Subscribe, Publish, Unsubscribe): e.g. the push queue's
	// and the mail queue's wake-ups. PublishTx's caller wakes them itself.
	Wake func()
	// CheckEndpoint, when set, vets the endpoint of a new http/https
	// subscription (netguard.CheckURL): an error refuses the Subscribe
	// call with InvalidParameter. nil: every endpoint is taken. (The push
	// queue's client checks each connection again.)
	CheckEndpoint func(ctx context.Context, endpoint string) error
	// KeyBits is the size of the RSA signing key made when the deployment
	// has none; 0 means 2048. Tests may use a smaller one.
	KeyBits int
}

// Store is the SNS service of a deployment.
type Store struct {
	opts      Options
	db        *db.DB
	now       func() time.Time
	log       *slog.Logger
	publicURL string
	signer    *signer
}

// New returns a Store, loading the deployment's signing key or making and
// storing one.
func New(o Options) (*Store, error) {
	if o.DB == nil || o.Box == nil || o.Region == "" || o.PublicURL == "" {
		return nil, errors.New("sns: DB, Box, Region and PublicURL are required")
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sns: PublicURL %q is not an http(s) URL", o.PublicURL)
	}
	s := &Store{opts: o, db: o.DB, now: o.Now, log: o.Logger, publicURL: strings.TrimSuffix(o.PublicURL, "/")}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if u.Scheme != "https" {
		s.log.Warn("the SNS public URL is not https: validators such as npm sns-validator refuse its SigningCertURL", "public_url", o.PublicURL)
	}
	bits := o.KeyBits
	if bits == 0 {
		bits = 2048
	}
	s.signer, err = loadSigner(context.Background(), o.DB, o.Box, bits, s.now)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Public returns the handlers of the unauthenticated paths, by exact path:
// the signing certificate (SigningCertURL), the confirmation link
// (SubscribeURL) and the unsubscribe link (UnsubscribeURL).
func (s *Store) Public() map[string]http.Handler {
	return map[string]http.Handler{
		s.signer.certPath(): http.HandlerFunc(s.serveCert),
		pathConfirm:         http.HandlerFunc(s.serveConfirm),
		pathUnsubscribe:     http.HandlerFunc(s.serveUnsubscribe),
	}
}

// The unauthenticated paths.
const (
	pathConfirm     = "/sns/confirm"
	pathUnsubscribe = "/sns/unsubscribe"
)

// SigningCertURL is the URL of the certificate that verifies messages.
func (s *Store) SigningCertURL() string { return s.publicURL + s.signer.certPath() }

// Certificate returns the signing certificate (DER).
func (s *Store) Certificate() *x509.Certificate { return s.signer.cert }

// topicARN returns the ARN of an account's topic.
func (s *Store) topicARN(accountID, name string) string {
	return "arn:aws:sns:" + s.opts.Region + ":" + accountID + ":" + name
}

// parsedARN is a topic or subscription ARN of this region.
type parsedARN struct {
	account, topic, sub string // sub: "" for a topic ARN
}

// parseARN parses arn:aws:sns:<region>:<account>:<topic>[:<uuid>]. ok is
// false for anything else.
func (s *Store) parseARN(arn string) (parsedARN, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 || len(parts) > 7 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "sns" || parts[3] == "" {
		return parsedARN{}, false
	}
	if len(parts[4]) != 12 || strings.Trim(parts[4], "0123456789") != "" || !validTopicName(parts[5]) {
		return parsedARN{}, false
	}
	p := parsedARN{account: parts[4], topic: parts[5]}
	if len(parts) == 7 {
		if !validUUID(parts[6]) {
			return parsedARN{}, false
		}
		p.sub = parts[6]
	}
	return p, parts[3] == s.opts.Region
}

func validTopicName(n string) bool {
	if n == "" || len(n) > 256 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i := 0; i < len(u); i++ {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if u[i] != '-' {
				return false
			}
		case !('0' <= u[i] && u[i] <= '9' || 'a' <= u[i] && u[i] <= 'f'):
			return false
		}
	}
	return true
}
