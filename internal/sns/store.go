package sns

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sesame-email/sesame/internal/db"
)

// Subscription states (sns_subscriptions.state).
const (
	statePending   = "pending"
	stateConfirmed = "confirmed"
	stateDeleted   = "deleted"
)

// topic is one stored topic.
type topic struct {
	ARN, AccountID, Name string
	// Attrs are the settable attributes: DisplayName, Policy,
	// DeliveryPolicy, SignatureVersion.
	Attrs map[string]string
}

// signatureVersion is the topic's SignatureVersion, "1" by default.
func (t *topic) signatureVersion() string {
	if v := t.Attrs["SignatureVersion"]; v != "" {
		return v
	}
	return "1"
}

// subscription is one stored subscription.
type subscription struct {
	ARN, TopicARN, AccountID string
	Protocol, Endpoint       string
	State                    string
	Authenticated            bool
	// Attrs are the settable attributes: RawMessageDelivery,
	// DeliveryPolicy.
	Attrs     map[string]string
	tokenHash string
	expires   int64
}

func (u *subscription) raw() bool { return u.Attrs["RawMessageDelivery"] == "true" }

func marshalAttrs(m map[string]string) string {
	if m == nil {
		m = map[string]string{}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func unmarshalAttrs(s string) (map[string]string, error) {
	m := map[string]string{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("sns: stored attributes: %w", err)
	}
	return m, nil
}

// getTopic reads a topic of an account; ErrTopicNotFound when it does not
// exist there.
func getTopic(ctx context.Context, q db.Querier, accountID, arn string) (*topic, error) {
	t := &topic{}
	var attrs string
	err := q.QueryRow(ctx, `SELECT arn, account_id, name, attributes FROM sns_topics WHERE arn = ? AND account_id = ?`, arn, accountID).
		Scan(&t.ARN, &t.AccountID, &t.Name, &attrs)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrTopicNotFound, arn)
	}
	if err != nil {
		return nil, fmt.Errorf("sns: read topic: %w", err)
	}
	if t.Attrs, err = unmarshalAttrs(attrs); err != nil {
		return nil, err
	}
	return t, nil
}

const subColumns = `arn, topic_arn, account_id, protocol, endpoint, state, authenticated, attributes, token_hash, token_expires`

func scanSub(sc interface{ Scan(...any) error }) (*subscription, error) {
	u := &subscription{}
	var attrs string
	if err := sc.Scan(&u.ARN, &u.TopicARN, &u.AccountID, &u.Protocol, &u.Endpoint, &u.State, &u.Authenticated, &attrs, &u.tokenHash, &u.expires); err != nil {
		return nil, err
	}
	var err error
	u.Attrs, err = unmarshalAttrs(attrs)
	return u, err
}

// errSubNotFound is a subscription that does not exist in the account.
var errSubNotFound = errors.New("sns: subscription not found")

// getSub reads a live (pending or confirmed) subscription of an account.
func getSub(ctx context.Context, q db.Querier, accountID, arn string) (*subscription, error) {
	u, err := scanSub(q.QueryRow(ctx, `SELECT `+subColumns+` FROM sns_subscriptions WHERE arn = ? AND account_id = ? AND state <> ?`, arn, accountID, stateDeleted))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errSubNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sns: read subscription: %w", err)
	}
	return u, nil
}

func listSubs(ctx context.Context, q db.Querier, query string, args ...any) ([]*subscription, error) {
	rows, err := q.Query(ctx, `SELECT `+subColumns+` FROM sns_subscriptions WHERE `+query, args...)
	if err != nil {
		return nil, fmt.Errorf("sns: list subscriptions: %w", err)
	}
	defer rows.Close()
	var out []*subscription
	for rows.Next() {
		u, err := scanSub(rows)
		if err != nil {
			return nil, fmt.Errorf("sns: list subscriptions: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func setSubAttrs(ctx context.Context, q db.Querier, arn string, attrs map[string]string) error {
	if _, err := q.Exec(ctx, `UPDATE sns_subscriptions SET attributes = ? WHERE arn = ?`, marshalAttrs(attrs), arn); err != nil {
		return fmt.Errorf("sns: update subscription: %w", err)
	}
	return nil
}

func setTopicAttrs(ctx context.Context, q db.Querier, arn string, attrs map[string]string) error {
	if _, err := q.Exec(ctx, `UPDATE sns_topics SET attributes = ? WHERE arn = ?`, marshalAttrs(attrs), arn); err != nil {
		return fmt.Errorf("sns: update topic: %w", err)
	}
	return nil
}

// Tag is one resource tag.
type Tag struct{ Key, Value string }

func topicTags(ctx context.Context, q db.Querier, arn string) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT tag_key, tag_value FROM sns_tags WHERE arn = ?`, arn)
	if err != nil {
		return nil, fmt.Errorf("sns: read tags: %w", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("sns: read tags: %w", err)
		}
		m[k] = v
	}
	return m, rows.Err()
}

func putTags(ctx context.Context, q db.Querier, arn string, tags map[string]string) error {
	for k, v := range tags {
		if _, err := q.Exec(ctx, `INSERT INTO sns_tags (arn, tag_key, tag_value) VALUES (?, ?, ?) ON CONFLICT (arn, tag_key) DO UPDATE SET tag_value = excluded.tag_value`, arn, k, v); err != nil {
			return fmt.Errorf("sns: tag: %w", err)
		}
	}
	return nil
}

// TopicExists reports whether the account owns the topic.
func (s *Store) TopicExists(ctx context.Context, accountID, topicARN string) (bool, error) {
	_, err := getTopic(ctx, s.db, accountID, topicARN)
	if errors.Is(err, ErrTopicNotFound) {
		return false, nil
	}
	return err == nil, err
}

// SubscriptionAlive reports whether a subscription still takes messages:
// it exists and is pending (its confirmation is being delivered) or
// confirmed. The push queue asks before each attempt, so that messages to
// an endpoint unsubscribed meanwhile are dropped.
func (s *Store) SubscriptionAlive(ctx context.Context, subscriptionARN string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM sns_subscriptions WHERE arn = ? AND state <> ?`, subscriptionARN, stateDeleted).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sns: subscription alive: %w", err)
	}
	return n > 0, nil
}

// IdentityTopic is one of an identity's notification topics.
type IdentityTopic struct {
	TopicARN       string // "" when only HeadersEnabled is set
	HeadersEnabled bool
}

// IdentityTopics returns an identity's notification topics by
// notification type ("Bounce", "Complaint", "Delivery"); the identity is
// named as stored (lower-case domain). Types with nothing set are absent.
func (s *Store) IdentityTopics(ctx context.Context, q db.Querier, accountID, identity string) (map[string]IdentityTopic, error) {
	return identityTopics(ctx, q, `SELECT t.notification_type, t.topic_arn, t.headers_enabled FROM sns_identity_topics t
		JOIN identities i ON i.id = t.identity_id WHERE i.account_id = ? AND i.name = ?`, accountID, identity)
}

// IdentityTopicsByID is IdentityTopics for an identity by its id.
func (s *Store) IdentityTopicsByID(ctx context.Context, identityID int64) (map[string]IdentityTopic, error) {
	return identityTopics(ctx, s.db, `SELECT notification_type, topic_arn, headers_enabled FROM sns_identity_topics WHERE identity_id = ?`, identityID)
}

func identityTopics(ctx context.Context, q db.Querier, query string, args ...any) (map[string]IdentityTopic, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sns: identity topics: %w", err)
	}
	defer rows.Close()
	out := map[string]IdentityTopic{}
	for rows.Next() {
		var nt string
		var it IdentityTopic
		if err := rows.Scan(&nt, &it.TopicARN, &it.HeadersEnabled); err != nil {
			return nil, fmt.Errorf("sns: identity topics: %w", err)
		}
		out[nt] = it
	}
	return out, rows.Err()
}

// SetIdentityTopic sets (topicARN "" clears) the topic an identity's
// notifications of one type go to. The topic must exist in the account
// (else an error wrapping ErrTopicNotFound). The caller has checked that
// the identity is the account's.
func (s *Store) SetIdentityTopic(ctx context.Context, accountID string, identityID int64, notificationType, topicARN string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if topicARN != "" {
			if _, err := getTopic(ctx, tx, accountID, topicARN); err != nil {
				return err
			}
		}
		return s.updateIdentity(ctx, tx, identityID, notificationType, func(it *IdentityTopic) { it.TopicARN = topicARN })
	})
}

// SetIdentityHeaders sets whether an identity's notifications of one type
// include the original message's headers.
func (s *Store) SetIdentityHeaders(ctx context.Context, identityID int64, notificationType string, enabled bool) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		return s.updateIdentity(ctx, tx, identityID, notificationType, func(it *IdentityTopic) { it.HeadersEnabled = enabled })
	})
}

func (s *Store) updateIdentity(ctx context.Context, tx *db.Tx, identityID int64, nt string, change func(*IdentityTopic)) error {
	cur, err := identityTopics(ctx, tx, `SELECT notification_type, topic_arn, headers_enabled FROM sns_identity_topics WHERE identity_id = ? AND notification_type = ?`, identityID, nt)
	if err != nil {
		return err
	}
	it := cur[nt]
	change(&it)
	if it == (IdentityTopic{}) {
		_, err = tx.Exec(ctx, `DELETE FROM sns_identity_topics WHERE identity_id = ? AND notification_type = ?`, identityID, nt)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO sns_identity_topics (identity_id, notification_type, topic_arn, headers_enabled) VALUES (?, ?, ?, ?)
			ON CONFLICT (identity_id, notification_type) DO UPDATE SET topic_arn = excluded.topic_arn, headers_enabled = excluded.headers_enabled`,
			identityID, nt, it.TopicARN, it.HeadersEnabled)
	}
	if err != nil {
		return fmt.Errorf("sns: set identity topic: %w", err)
	}
	return nil
}
