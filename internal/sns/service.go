package sns

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// This file holds the rules of topics and subscriptions that the SNS API
// and the web console share: each method takes the caller's account and
// answers a refusal as an *Error carrying SNS's code and sentence.

// Error is a refusal by SNS's rules: the HTTP status and code SNS answers
// with, its message, and (when one parameter is at fault and a form may
// show the message next to it) that parameter's name.
type Error struct {
	Status  int
	Code    string // InvalidParameter, NotFound, AuthorizationError, ...
	Field   string // "Name", "DisplayName", "Protocol", "Endpoint", or ""
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// api is the error as the Query API writes it.
func (e *Error) api() *sesapi.Error { return sesapi.Errorf(e.Status, e.Code, "%s", e.Message) }

// IsNotFound reports whether err is SNS's NotFound (a topic or
// subscription that does not exist in the account).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "NotFound"
}

// TopicARN returns the ARN of an account's topic named name.
func (s *Store) TopicARN(accountID, name string) string { return s.topicARN(accountID, name) }

// checkTopicName applies SNS's rules for a topic name.
func checkTopicName(name string) error {
	if name == "" {
		return invalidField("Name", "Invalid parameter: Name")
	}
	if strings.HasSuffix(name, ".fifo") {
		return invalidField("Name", "Invalid parameter: Topic Name Reason: FIFO topics are not supported by Sesame")
	}
	if !validTopicName(name) {
		return invalidField("Name", "Invalid parameter: Topic Name Reason: must be 1 to 256 ASCII letters, digits, hyphens and underscores")
	}
	return nil
}

// topicFor reads the account's topic arn for action (the AuthorizationError
// names it); param is the parameter the ARN came in. A malformed ARN or
// another region's is InvalidParameter, another account's
// AuthorizationError (whether it exists or not), a missing one NotFound.
func (s *Store) topicFor(ctx context.Context, q db.Querier, accountID, action, param, arn string) (*topic, error) {
	if arn == "" {
		return nil, invalid("Invalid parameter: %s", param)
	}
	p, ok := s.parseARN(arn)
	if !ok || p.sub != "" {
		return nil, invalid("Invalid parameter: %s", param)
	}
	if p.account != accountID {
		return nil, notAuthorized(accountID, action, arn)
	}
	t, err := getTopic(ctx, q, accountID, arn)
	if errors.Is(err, ErrTopicNotFound) {
		return nil, errTopicNotFound
	}
	return t, err
}

// subFor reads the account's live subscription arn for action.
func (s *Store) subFor(ctx context.Context, q db.Querier, accountID, action, arn string) (*subscription, error) {
	if arn == "" {
		return nil, invalid("Invalid parameter: SubscriptionArn")
	}
	p, ok := s.parseARN(arn)
	if !ok || p.sub == "" {
		return nil, invalid("Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1")
	}
	if p.account != accountID {
		return nil, notAuthorized(accountID, action, arn)
	}
	u, err := getSub(ctx, q, accountID, arn)
	if errors.Is(err, errSubNotFound) {
		return nil, errSubNotFoundAP
	}
	return u, err
}

// notAuthorized is SNS's answer to a use of another account's resource.
func notAuthorized(accountID, action, arn string) error {
	return apiError(http.StatusForbidden, "AuthorizationError", "User: arn:aws:iam::%s:root is not authorized to perform: SNS:%s on resource: %s", accountID, action, arn)
}

// CreateTopic creates the account's topic name with attributes
// (DisplayName, Policy, DeliveryPolicy, SignatureVersion) and tags, and
// returns its ARN. As in SNS it is idempotent: the same name gives the
// same topic, unless other attributes or tags are asked for.
func (s *Store) CreateTopic(ctx context.Context, accountID, name string, attrs map[string]string, tags []Tag) (string, error) {
	if err := checkTopicName(name); err != nil {
		return "", err
	}
	for k, v := range attrs {
		if err := checkTopicAttr(k, v); err != nil {
			return "", err
		}
	}
	if err := checkTags(tags); err != nil {
		return "", err
	}
	tagMap := map[string]string{}
	for _, t := range tags {
		tagMap[t.Key] = t.Value
	}
	arn := s.topicARN(accountID, name)
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		t, err := getTopic(ctx, tx, accountID, arn)
		if err == nil {
			for k, v := range attrs {
				if t.Attrs[k] != v {
					return invalid("Invalid parameter: Attributes Reason: Topic already exists with different attributes")
				}
			}
			if len(tags) > 0 {
				cur, err := topicTags(ctx, tx, arn)
				if err != nil {
					return err
				}
				if !maps.Equal(cur, tagMap) {
					return invalid("Invalid parameter: Tags Reason: Topic already exists with different tags")
				}
			}
			return nil
		}
		if !errors.Is(err, ErrTopicNotFound) {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sns_topics WHERE account_id = ?`, accountID).Scan(&n); err != nil {
			return fmt.Errorf("sns: count topics: %w", err)
		}
		if n >= maxTopics {
			return apiError(http.StatusForbidden, "TopicLimitExceeded", "Topic limit exceeded: an account has at most %d topics", maxTopics)
		}
		stored := map[string]string{}
		for k, v := range attrs {
			if v != "" {
				stored[k] = v
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sns_topics (arn, account_id, name, attributes, created_at) VALUES (?, ?, ?, ?, ?)`,
			arn, accountID, name, marshalAttrs(stored), db.Millis(s.now())); err != nil {
			return fmt.Errorf("sns: create topic: %w", err)
		}
		return putTags(ctx, tx, arn, tagMap)
	})
	if db.IsUniqueViolation(err) {
		return s.CreateTopic(ctx, accountID, name, attrs, tags) // created meanwhile: answer as for an existing topic
	}
	if err != nil {
		return "", err
	}
	return arn, nil
}

// DeleteTopic deletes the account's topic and its subscriptions. As in
// SNS, deleting a topic that does not exist succeeds.
func (s *Store) DeleteTopic(ctx context.Context, accountID, topicARN string) error {
	t, err := s.topicFor(ctx, s.db, accountID, "DeleteTopic", "TopicArn", topicARN)
	if err == errTopicNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM sns_topics WHERE arn = ? AND account_id = ?`, t.ARN, accountID); err != nil {
		return fmt.Errorf("sns: delete topic: %w", err)
	}
	return nil
}

// Topic is one topic in a listing.
type Topic struct {
	ARN, Name, DisplayName string
}

// GetTopic returns the account's topic (NotFound when it has none of that
// ARN).
func (s *Store) GetTopic(ctx context.Context, accountID, topicARN string) (Topic, error) {
	t, err := s.topicFor(ctx, s.db, accountID, "GetTopicAttributes", "TopicArn", topicARN)
	if err != nil {
		return Topic{}, err
	}
	return Topic{ARN: t.ARN, Name: t.Name, DisplayName: t.Attrs["DisplayName"]}, nil
}

// ListTopics returns a page of the account's topics in ARN order, from
// nextToken (a previous page's; "" for the first), and the next page's
// token ("" after the last page).
func (s *Store) ListTopics(ctx context.Context, accountID, nextToken string) ([]Topic, string, error) {
	after, err := decodePageToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.Query(ctx, `SELECT arn, name, attributes FROM sns_topics WHERE account_id = ? AND arn > ? ORDER BY arn LIMIT ?`, accountID, after, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("sns: list topics: %w", err)
	}
	defer rows.Close()
	out := []Topic{}
	for rows.Next() {
		var t Topic
		var attrs string
		if err := rows.Scan(&t.ARN, &t.Name, &attrs); err != nil {
			return nil, "", fmt.Errorf("sns: list topics: %w", err)
		}
		m, err := unmarshalAttrs(attrs)
		if err != nil {
			return nil, "", err
		}
		t.DisplayName = m["DisplayName"]
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sns: list topics: %w", err)
	}
	next := ""
	if len(out) > pageSize {
		out = out[:pageSize]
		next = encodePageToken(out[pageSize-1].ARN)
	}
	return out, next, nil
}

// SubscribeInput is a Subscribe request.
type SubscribeInput struct {
	TopicARN, Protocol, Endpoint string
	// Attributes are RawMessageDelivery and DeliveryPolicy.
	Attributes map[string]string
	// ReturnARN answers the ARN of a subscription pending confirmation,
	// not "pending confirmation".
	ReturnARN bool
}

// pendingARN is what Subscribe answers for a subscription awaiting
// confirmation (without ReturnSubscriptionArn).
const pendingARN = "pending confirmation"

// Subscribe subscribes an endpoint to the account's topic and sends the
// confirmation request (an http/https SubscriptionConfirmation, or the
// confirmation mail of an email/email-json subscription): the
// subscription stays PendingConfirmation until its SubscribeURL is
// followed. An http/https endpoint must pass Options.CheckEndpoint.
// Subscribing an endpoint again answers the existing subscription (and
// asks a pending one to confirm again). It returns the subscription's
// ARN, or "pending confirmation" without in.ReturnARN for a pending one.
func (s *Store) Subscribe(ctx context.Context, accountID string, in SubscribeInput) (string, error) {
	arn, err := s.subscribe(ctx, accountID, in)
	if err == nil {
		s.wake()
	}
	return arn, err
}

func (s *Store) subscribe(ctx context.Context, accountID string, in SubscribeInput) (string, error) {
	protocol := strings.ToLower(in.Protocol)
	if protocol == "" {
		return "", invalidField("Protocol", "Invalid parameter: Protocol")
	}
	if !slices.Contains(Protocols, protocol) {
		return "", invalidField("Protocol", "Invalid parameter: Protocol Reason: Sesame delivers to the protocols %s, not %.32q", strings.Join(Protocols, ", "), protocol)
	}
	endpoint := in.Endpoint
	if endpoint == "" {
		return "", invalidField("Endpoint", "Invalid parameter: Endpoint")
	}
	if err := checkEndpoint(protocol, endpoint); err != nil {
		return "", err
	}
	attrs := in.Attributes
	for k, v := range attrs {
		if err := checkSubAttr(protocol, k, v); err != nil {
			return "", err
		}
	}
	if (protocol == "http" || protocol == "https") && s.opts.CheckEndpoint != nil {
		if err := s.opts.CheckEndpoint(ctx, endpoint); err != nil {
			return "", invalidField("Endpoint", "Invalid parameter: Endpoint Reason: this deployment does not deliver to loopback, private or link-local addresses: %s", err.Error())
		}
	}
	var arn string
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		t, err := s.topicFor(ctx, tx, accountID, "Subscribe", "TopicArn", in.TopicARN)
		if err != nil {
			return err
		}
		existing, err := listSubs(ctx, tx, `topic_arn = ? AND protocol = ? AND endpoint = ? AND state <> ?`, t.ARN, protocol, endpoint, stateDeleted)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			u := existing[0]
			for k, v := range attrs {
				if u.Attrs[k] != v && !(k == "RawMessageDelivery" && v == "false" && u.Attrs[k] == "") {
					return invalid("Invalid parameter: Attributes Reason: Subscription already exists with different attributes")
				}
			}
			arn = u.ARN
			if u.State == statePending {
				if !in.ReturnARN {
					arn = pendingARN
				}
				return s.sendConfirmation(ctx, tx, t, u) // ask again
			}
			return nil
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sns_subscriptions WHERE topic_arn = ? AND state <> ?`, t.ARN, stateDeleted).Scan(&n); err != nil {
			return fmt.Errorf("sns: count subscriptions: %w", err)
		}
		if n >= maxSubsByTopic {
			return apiError(http.StatusForbidden, "SubscriptionLimitExceeded", "Subscription limit exceeded: a topic has at most %d subscriptions", maxSubsByTopic)
		}
		stored := map[string]string{}
		for k, v := range attrs {
			if v != "" && !(k == "RawMessageDelivery" && v == "false") {
				stored[k] = v
			}
		}
		u := &subscription{ARN: t.ARN + ":" + sesapi.NewRequestID(), TopicARN: t.ARN, AccountID: accountID, Protocol: protocol, Endpoint: endpoint, State: statePending, Attrs: stored}
		if _, err := tx.Exec(ctx, `INSERT INTO sns_subscriptions (arn, topic_arn, account_id, protocol, endpoint, state, token_hash, token_expires, authenticated, attributes, created_at)
			VALUES (?, ?, ?, ?, ?, ?, '', 0, ?, ?, ?)`, u.ARN, u.TopicARN, u.AccountID, u.Protocol, u.Endpoint, u.State, false, marshalAttrs(stored), db.Millis(s.now())); err != nil {
			return fmt.Errorf("sns: subscribe: %w", err)
		}
		arn = pendingARN
		if in.ReturnARN {
			arn = u.ARN
		}
		return s.sendConfirmation(ctx, tx, t, u)
	})
	if db.IsUniqueViolation(err) {
		return s.subscribe(ctx, accountID, in) // subscribed meanwhile: answer as for an existing subscription
	}
	if err != nil {
		return "", err
	}
	return arn, nil
}

// Unsubscribe ends the account's subscription: a pending one is
// forgotten, a confirmed one is deleted and its http/https endpoint gets
// an UnsubscribeConfirmation.
func (s *Store) Unsubscribe(ctx context.Context, accountID, subscriptionARN string) error {
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		u, err := s.subFor(ctx, tx, accountID, "Unsubscribe", subscriptionARN)
		if err != nil {
			return err
		}
		return s.unsubscribe(ctx, tx, u)
	})
	if err == nil {
		s.wake()
	}
	return err
}

// Subscription is one live subscription in a listing.
type Subscription struct {
	ARN, TopicARN, Owner, Protocol, Endpoint string
	// Pending is true until the endpoint confirms: SNS lists the
	// subscription's ARN as "PendingConfirmation" meanwhile.
	Pending bool
}

// ListSubscriptionsByTopic returns a page of the live subscriptions of
// the account's topic in ARN order, from nextToken, and the next page's
// token ("" after the last page).
func (s *Store) ListSubscriptionsByTopic(ctx context.Context, accountID, topicARN, nextToken string) ([]Subscription, string, error) {
	t, err := s.topicFor(ctx, s.db, accountID, "ListSubscriptionsByTopic", "TopicArn", topicARN)
	if err != nil {
		return nil, "", err
	}
	return s.listSubscriptions(ctx, nextToken, `topic_arn = ? AND account_id = ?`, t.ARN, accountID)
}

// ListSubscriptions returns a page of the account's live subscriptions.
func (s *Store) ListSubscriptions(ctx context.Context, accountID, nextToken string) ([]Subscription, string, error) {
	return s.listSubscriptions(ctx, nextToken, `account_id = ?`, accountID)
}

func (s *Store) listSubscriptions(ctx context.Context, nextToken, where string, args ...any) ([]Subscription, string, error) {
	after, err := decodePageToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	subs, err := listSubs(ctx, s.db, where+` AND state <> ? AND arn > ? ORDER BY arn LIMIT ?`, append(args, stateDeleted, after, pageSize+1)...)
	if err != nil {
		return nil, "", err
	}
	out := []Subscription{}
	for _, u := range subs {
		out = append(out, Subscription{ARN: u.ARN, TopicARN: u.TopicARN, Owner: u.AccountID, Protocol: u.Protocol, Endpoint: u.Endpoint, Pending: u.State == statePending})
	}
	next := ""
	if len(out) > pageSize {
		out = out[:pageSize]
		next = encodePageToken(out[pageSize-1].ARN)
	}
	return out, next, nil
}
