package sns

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// Limits of the API, SNS's where it has them.
const (
	pageSize       = 100    // ListTopics, ListSubscriptions*
	maxTags        = 50     // tags per topic
	maxMessage     = 262144 // Publish Message bytes
	maxSubject     = 100    // Publish Subject characters
	maxTopics      = 10000  // topics per account (SNS: 100,000)
	maxSubsByTopic = 10000  // live subscriptions per topic
)

// Protocols are the subscription protocols Sesame delivers to.
var Protocols = []string{"http", "https", "email", "email-json"}

// apiError returns an SNS error.
func apiError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error {
	return apiError(http.StatusBadRequest, "InvalidParameter", format, args...)
}

// invalidField is invalid naming the parameter at fault, for callers
// that show the message next to that field.
func invalidField(field, format string, args ...any) *Error {
	e := invalid(format, args...)
	e.Field = field
	return e
}

var (
	errTopicNotFound = apiError(http.StatusNotFound, "NotFound", "Topic does not exist")
	errSubNotFoundAP = apiError(http.StatusNotFound, "NotFound", "Subscription does not exist")
	errResourceGone  = apiError(http.StatusNotFound, "ResourceNotFound", "Resource does not exist")
	errInternal      = apiError(http.StatusInternalServerError, "InternalError", "The request processing has failed because of an unknown error, exception or failure.")
)

// call is one API request being served.
type call struct {
	ctx     context.Context
	account string
	action  string
	p       params
}

type actionFunc func(s *Store, c *call) (any, error)

// actions maps each Action to its function; a nil result writes only
// ResponseMetadata, emptyResult an empty {Action}Result.
var actions = map[string]actionFunc{
	"CreateTopic":               (*Store).apiCreateTopic,
	"DeleteTopic":               (*Store).apiDeleteTopic,
	"ListTopics":                (*Store).apiListTopics,
	"GetTopicAttributes":        (*Store).apiGetTopicAttributes,
	"SetTopicAttributes":        (*Store).apiSetTopicAttributes,
	"Subscribe":                 (*Store).apiSubscribe,
	"ConfirmSubscription":       (*Store).apiConfirmSubscription,
	"Unsubscribe":               (*Store).apiUnsubscribe,
	"ListSubscriptions":         (*Store).apiListSubscriptions,
	"ListSubscriptionsByTopic":  (*Store).apiListSubscriptionsByTopic,
	"GetSubscriptionAttributes": (*Store).apiGetSubscriptionAttributes,
	"SetSubscriptionAttributes": (*Store).apiSetSubscriptionAttributes,
	"Publish":                   (*Store).apiPublish,
	"TagResource":               (*Store).apiTagResource,
	"UntagResource":             (*Store).apiUntagResource,
	"ListTagsForResource":       (*Store).apiListTagsForResource,
}

type emptyResult struct{}

// Handler returns the SNS Query API. Requests reach it through
// sesapi.Server, which has authenticated them for the service "sns"
// (sesapi.CallerFrom gives the account).
func (s *Store) Handler() http.Handler { return http.HandlerFunc(s.serveAPI) }

func (s *Store) serveAPI(w http.ResponseWriter, r *http.Request) {
	caller := sesapi.CallerFrom(r.Context())
	reqID := caller.RequestID
	if reqID == "" {
		reqID = sesapi.NewRequestID()
	}
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			sesapi.WriteSNSError(w, reqID, invalid("The request body could not be read").api())
			return
		}
		raw = string(b)
	} else if r.Method != http.MethodGet {
		sesapi.WriteSNSError(w, reqID, apiError(http.StatusMethodNotAllowed, "InvalidAction", "The SNS API takes GET and POST requests").api())
		return
	}
	p, err := parseParams(raw)
	if err != nil {
		sesapi.WriteSNSError(w, reqID, apiError(http.StatusBadRequest, "MalformedQueryString", "%s", err.Error()).api())
		return
	}
	action := p["Action"]
	fn, ok := actions[action]
	if !ok {
		if action == "" {
			sesapi.WriteSNSError(w, reqID, apiError(http.StatusBadRequest, "MissingAction", "Missing Action").api())
			return
		}
		sesapi.WriteSNSError(w, reqID, apiError(http.StatusBadRequest, "InvalidAction", "Could not find operation %.64s for version %s; Sesame's SNS supports %s",
			action, Version, strings.Join(slices.Sorted(maps.Keys(actions)), ", ")).api())
		return
	}
	if v, ok := p["Version"]; ok && v != Version {
		sesapi.WriteSNSError(w, reqID, apiError(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %.32s", action, v).api())
		return
	}
	c := &call{ctx: r.Context(), account: caller.AccountID, action: action, p: p}
	res, err := fn(s, c)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			s.log.Error("sns api", "action", action, "err", err, "request_id", reqID)
			e = errInternal
		}
		sesapi.WriteSNSError(w, reqID, e.api())
		return
	}
	if action == "Publish" { // Subscribe and Unsubscribe wake themselves
		s.wake()
	}
	var b bytes.Buffer
	b.WriteString(`<` + action + `Response xmlns="` + Namespace + `">` + "\n")
	if res != nil {
		enc := xml.NewEncoder(&b)
		enc.Indent("  ", "  ")
		if err := enc.EncodeElement(res, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			s.log.Error("sns api: encode", "action", action, "err", err)
			sesapi.WriteSNSError(w, reqID, errInternal.api())
			return
		}
		b.WriteString("\n")
	}
	b.WriteString("  <ResponseMetadata>\n    <RequestId>" + reqID + "</RequestId>\n  </ResponseMetadata>\n</" + action + "Response>\n")
	w.Header().Set("Content-Type", "text/xml")
	w.Write(b.Bytes())
}

func (s *Store) wake() {
	if s.opts.Wake != nil {
		s.opts.Wake()
	}
}

// required returns a parameter that must be present and not empty.
func (c *call) required(name string) (string, error) {
	v := c.p[name]
	if v == "" {
		return "", invalid("Invalid parameter: %s", name)
	}
	return v, nil
}

// boolParam reads an optional boolean ("true"/"false", any case).
func (c *call) boolParam(name string) (bool, error) {
	v, ok := c.p[name]
	if !ok || v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil || (strings.ToLower(v) != "true" && strings.ToLower(v) != "false") {
		return false, invalid("Invalid parameter: %s Reason: must be true or false", name)
	}
	return b, nil
}

// topicParam reads the ARN of one of the caller's topics (see topicFor).
func (s *Store) topicParam(c *call, q db.Querier, name string) (*topic, error) {
	arn, err := c.required(name)
	if err != nil {
		return nil, err
	}
	return s.topicFor(c.ctx, q, c.account, c.action, name, arn)
}

// subParam reads the ARN of one of the caller's live subscriptions.
func (s *Store) subParam(c *call, q db.Querier) (*subscription, error) {
	arn, err := c.required("SubscriptionArn")
	if err != nil {
		return nil, err
	}
	return s.subFor(c.ctx, q, c.account, c.action, arn)
}

// checkTopicAttr validates one settable topic attribute.
func checkTopicAttr(name, value string) error {
	switch name {
	case "DisplayName":
		if utf8.RuneCountInString(value) > 100 {
			return invalidField("DisplayName", "Invalid parameter: DisplayName Reason: must be at most 100 characters")
		}
	case "Policy":
		var v map[string]any
		if value != "" && json.Unmarshal([]byte(value), &v) != nil {
			return invalid("Invalid parameter: Policy Error: the policy is not a JSON object")
		}
	case "DeliveryPolicy":
		if _, err := parseTopicPolicy(value); err != nil {
			return invalid("Invalid parameter: DeliveryPolicy: %s", err.Error())
		}
	case "SignatureVersion":
		if value != "1" && value != "2" {
			return invalid("Invalid parameter: SignatureVersion Reason: must be 1 (SHA1withRSA) or 2 (SHA256withRSA)")
		}
	case "FifoTopic", "ContentBasedDeduplication", "FifoThroughputScope", "ArchivePolicy":
		return invalid("Invalid parameter: Attributes Reason: %s: FIFO topics are not supported by Sesame", name)
	case "KmsMasterKeyId":
		return invalid("Invalid parameter: Attributes Reason: KmsMasterKeyId: server-side encryption with KMS is not supported by Sesame")
	case "TracingConfig":
		return invalid("Invalid parameter: Attributes Reason: TracingConfig: X-Ray tracing is not supported by Sesame")
	default:
		if strings.HasSuffix(name, "FeedbackRoleArn") || strings.HasSuffix(name, "FeedbackSampleRate") {
			return invalid("Invalid parameter: Attributes Reason: %s: delivery status logging is not supported by Sesame", name)
		}
		return invalid("Invalid parameter: AttributeName Reason: unknown topic attribute %.64q; Sesame's topics take DisplayName, Policy, DeliveryPolicy and SignatureVersion", name)
	}
	return nil
}

func checkTags(tags []Tag) error {
	for _, t := range tags {
		if t.Key == "" || utf8.RuneCountInString(t.Key) > 128 {
			return invalid("Invalid parameter: Tags Reason: a tag key must be 1 to 128 characters")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalid("Invalid parameter: Tags Reason: tag keys starting with aws: are reserved")
		}
		if utf8.RuneCountInString(t.Value) > 256 {
			return invalid("Invalid parameter: Tags Reason: a tag value must be at most 256 characters")
		}
	}
	if len(tags) > maxTags {
		return apiError(http.StatusBadRequest, "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
	}
	return nil
}

type topicArnResult struct {
	TopicArn string
}

func (s *Store) apiCreateTopic(c *call) (any, error) {
	name, err := c.required("Name")
	if err != nil {
		return nil, err
	}
	if err := checkTopicName(name); err != nil {
		return nil, err
	}
	if c.p.hasPrefix("DataProtectionPolicy") && c.p["DataProtectionPolicy"] != "" {
		return nil, invalid("Invalid parameter: DataProtectionPolicy Reason: data protection policies are not supported by Sesame")
	}
	attrs, err := c.p.attributeMap("Attributes")
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	tags, err := c.p.tags("Tags")
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	arn, err := s.CreateTopic(c.ctx, c.account, name, attrs, tags)
	if err != nil {
		return nil, err
	}
	return topicArnResult{arn}, nil
}

func (s *Store) apiDeleteTopic(c *call) (any, error) {
	arn, err := c.required("TopicArn")
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteTopic(c.ctx, c.account, arn)
}

// page tokens are the last ARN of the previous page, base64url.
func encodePageToken(arn string) string { return base64.RawURLEncoding.EncodeToString([]byte(arn)) }

func decodePageToken(t string) (string, error) {
	if t == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || !utf8.Valid(b) {
		return "", invalid("Invalid parameter: NextToken")
	}
	return string(b), nil
}

type listTopicsResult struct {
	Topics    []topicArnResult `xml:"Topics>member"`
	NextToken string           `xml:",omitempty"`
}

func (s *Store) apiListTopics(c *call) (any, error) {
	ts, next, err := s.ListTopics(c.ctx, c.account, c.p["NextToken"])
	if err != nil {
		return nil, err
	}
	res := listTopicsResult{Topics: []topicArnResult{}, NextToken: next}
	for _, t := range ts {
		res.Topics = append(res.Topics, topicArnResult{t.ARN})
	}
	return res, nil
}

type entry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type attributesResult struct {
	Attributes []entry `xml:"Attributes>entry"`
}

func sortedEntries(m map[string]string) []entry {
	out := make([]entry, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, entry{k, m[k]})
	}
	return out
}

// defaultPolicy is the Policy SNS gives a new topic: its owner may do
// everything (Sesame enforces exactly that, by account).
func defaultPolicy(t *topic) string {
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},` +
		`"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],` +
		`"Resource":"` + t.ARN + `","Condition":{"StringEquals":{"AWS:SourceOwner":"` + t.AccountID + `"}}}]}`
}

func (s *Store) apiGetTopicAttributes(c *call) (any, error) {
	t, err := s.topicParam(c, s.db, "TopicArn")
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	rows, err := s.db.Query(c.ctx, `SELECT state, COUNT(*) FROM sns_subscriptions WHERE topic_arn = ? GROUP BY state`, t.ARN)
	if err != nil {
		return nil, fmt.Errorf("sns: count subscriptions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("sns: count subscriptions: %w", err)
		}
		counts[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	m := map[string]string{
		"TopicArn":                t.ARN,
		"Owner":                   t.AccountID,
		"DisplayName":             t.Attrs["DisplayName"],
		"Policy":                  defaultPolicy(t),
		"SubscriptionsConfirmed":  strconv.Itoa(counts[stateConfirmed]),
		"SubscriptionsPending":    strconv.Itoa(counts[statePending]),
		"SubscriptionsDeleted":    strconv.Itoa(counts[stateDeleted]),
		"EffectiveDeliveryPolicy": effectiveTopicJSON(t.Attrs["DeliveryPolicy"]),
		"SignatureVersion":        t.signatureVersion(),
	}
	if v := t.Attrs["Policy"]; v != "" {
		m["Policy"] = v
	}
	if v := t.Attrs["DeliveryPolicy"]; v != "" {
		m["DeliveryPolicy"] = v
	}
	return attributesResult{sortedEntries(m)}, nil
}

func (s *Store) apiSetTopicAttributes(c *call) (any, error) {
	name, err := c.required("AttributeName")
	if err != nil {
		return nil, err
	}
	value := c.p["AttributeValue"]
	if err := checkTopicAttr(name, value); err != nil {
		return nil, err
	}
	return nil, s.db.InTx(c.ctx, func(tx *db.Tx) error {
		t, err := s.topicParam(c, tx, "TopicArn")
		if err != nil {
			return err
		}
		if value == "" {
			delete(t.Attrs, name)
		} else {
			t.Attrs[name] = value
		}
		return setTopicAttrs(c.ctx, tx, t.ARN, t.Attrs)
	})
}

// checkSubAttr validates one settable subscription attribute.
func checkSubAttr(protocol, name, value string) error {
	httpOnly := func() error {
		if protocol != "http" && protocol != "https" {
			return invalid("Invalid parameter: Attributes Reason: Delivery protocol [%s] does not support %s", protocol, name)
		}
		return nil
	}
	switch name {
	case "RawMessageDelivery":
		if value != "true" && value != "false" {
			return invalid("Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [%.32s]. Must be true or false.", value)
		}
		return httpOnly()
	case "DeliveryPolicy":
		if _, err := parseSubPolicy(value); err != nil {
			return invalid("Invalid parameter: DeliveryPolicy: %s", err.Error())
		}
		return httpOnly()
	case "FilterPolicy", "FilterPolicyScope":
		return invalid("Invalid parameter: Attributes Reason: %s: subscription filter policies are not supported by Sesame; every subscription receives every message of its topic", name)
	case "RedrivePolicy":
		return invalid("Invalid parameter: Attributes Reason: RedrivePolicy: dead-letter queues are not supported by Sesame (failed HTTP deliveries are parked: sesame events failed)")
	case "SubscriptionRoleArn", "ReplayPolicy":
		return invalid("Invalid parameter: Attributes Reason: %s is not supported by Sesame", name)
	}
	return invalid("Invalid parameter: AttributeName Reason: unknown subscription attribute %.64q; Sesame's subscriptions take RawMessageDelivery and DeliveryPolicy", name)
}

// checkEndpoint validates a subscription's endpoint for its protocol.
func checkEndpoint(protocol, endpoint string) error {
	switch protocol {
	case "http", "https":
		u, err := url.Parse(endpoint)
		if err != nil || u.Scheme != protocol || u.Hostname() == "" || len(endpoint) > 2048 {
			return invalidField("Endpoint", "Invalid parameter: Endpoint Reason: an %s endpoint must be an absolute %s:// URL", protocol, protocol)
		}
	case "email", "email-json":
		a, err := mail.ParseAddress(endpoint)
		if err != nil || a.Name != "" || a.Address != endpoint || !strings.Contains(endpoint, "@") || len(endpoint) > 320 {
			return invalidField("Endpoint", "Invalid parameter: Email address")
		}
		// Sesame's system mail (the confirmation, the notifications) goes
		// only to addresses SES would send to: an ASCII dot-atom local
		// part and a domain of letters, digits and hyphens.
		if _, err := addr.ParseAddress(endpoint); err != nil {
			var e *addr.Error
			if errors.As(err, &e) {
				return invalidField("Endpoint", "Invalid parameter: Email address Reason: %s", e.Rule)
			}
			return invalidField("Endpoint", "Invalid parameter: Email address")
		}
	}
	return nil
}

type subscribeResult struct {
	SubscriptionArn string
}

func (s *Store) apiSubscribe(c *call) (any, error) {
	attrs, err := c.p.attributeMap("Attributes")
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	returnARN, err := c.boolParam("ReturnSubscriptionArn")
	if err != nil {
		return nil, err
	}
	arn, err := s.Subscribe(c.ctx, c.account, SubscribeInput{TopicARN: c.p["TopicArn"], Protocol: c.p["Protocol"], Endpoint: c.p["Endpoint"], Attributes: attrs, ReturnARN: returnARN})
	if err != nil {
		return nil, err
	}
	return subscribeResult{arn}, nil
}

// confirm confirms the subscription of the topic whose latest token is
// token: a pending one (or one unsubscribed, which is restored). A
// subscription confirmed already with that token answers its ARN again.
func (s *Store) confirm(ctx context.Context, accountID, topicARN, token string, authenticated bool) (string, error) {
	var arn string
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		q := `topic_arn = ? AND token_hash = ?`
		args := []any{topicARN, hashToken(token)}
		if accountID != "" {
			q += ` AND account_id = ?`
			args = append(args, accountID)
		}
		subs, err := listSubs(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		if len(subs) == 0 || subs[0].State != stateConfirmed && subs[0].expires < db.Millis(s.now()) {
			return invalid("Invalid token")
		}
		u := subs[0]
		arn = u.ARN
		if u.State == stateConfirmed {
			if authenticated && !u.Authenticated {
				_, err := tx.Exec(ctx, `UPDATE sns_subscriptions SET authenticated = ? WHERE arn = ?`, true, u.ARN)
				return err
			}
			return nil
		}
		if u.State == stateDeleted {
			live, err := listSubs(ctx, tx, `topic_arn = ? AND protocol = ? AND endpoint = ? AND state <> ?`, u.TopicARN, u.Protocol, u.Endpoint, stateDeleted)
			if err != nil {
				return err
			}
			if len(live) > 0 { // subscribed again meanwhile: that one stands
				arn = live[0].ARN
				return nil
			}
		}
		_, err = tx.Exec(ctx, `UPDATE sns_subscriptions SET state = ?, authenticated = ? WHERE arn = ?`, stateConfirmed, authenticated, u.ARN)
		if err != nil {
			return fmt.Errorf("sns: confirm: %w", err)
		}
		return nil
	})
	return arn, err
}

func (s *Store) apiConfirmSubscription(c *call) (any, error) {
	token, err := c.required("Token")
	if err != nil {
		return nil, err
	}
	auth, err := c.boolParam("AuthenticateOnUnsubscribe")
	if err != nil {
		return nil, err
	}
	t, err := s.topicParam(c, s.db, "TopicArn")
	if err != nil {
		return nil, err
	}
	arn, err := s.confirm(c.ctx, c.account, t.ARN, token, auth)
	if err != nil {
		return nil, err
	}
	return subscribeResult{arn}, nil
}

// unsubscribe ends a subscription: a pending one is forgotten, a
// confirmed one becomes deleted (counted, and restorable through the
// SubscribeURL of the UnsubscribeConfirmation its http/https endpoint
// gets).
func (s *Store) unsubscribe(ctx context.Context, tx *db.Tx, u *subscription) error {
	if u.State == statePending {
		_, err := tx.Exec(ctx, `DELETE FROM sns_subscriptions WHERE arn = ?`, u.ARN)
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE sns_subscriptions SET state = ? WHERE arn = ?`, stateDeleted, u.ARN); err != nil {
		return fmt.Errorf("sns: unsubscribe: %w", err)
	}
	t, err := getTopic(ctx, tx, u.AccountID, u.TopicARN)
	if err != nil {
		return err
	}
	u.State = stateDeleted
	return s.sendConfirmation(ctx, tx, t, u)
}

func (s *Store) apiUnsubscribe(c *call) (any, error) {
	arn, err := c.required("SubscriptionArn")
	if err != nil {
		return nil, err
	}
	return nil, s.Unsubscribe(c.ctx, c.account, arn)
}

type subMember struct {
	SubscriptionArn string
	Owner           string
	Protocol        string
	Endpoint        string
	TopicArn        string
}

type listSubsResult struct {
	Subscriptions []subMember `xml:"Subscriptions>member"`
	NextToken     string      `xml:",omitempty"`
}

// subsResult is a page of subscriptions as the API lists them.
func subsResult(subs []Subscription, next string, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	res := listSubsResult{Subscriptions: []subMember{}, NextToken: next}
	for _, u := range subs {
		arn := u.ARN
		if u.Pending {
			arn = "PendingConfirmation"
		}
		res.Subscriptions = append(res.Subscriptions, subMember{arn, u.Owner, u.Protocol, u.Endpoint, u.TopicARN})
	}
	return res, nil
}

func (s *Store) apiListSubscriptions(c *call) (any, error) {
	return subsResult(s.ListSubscriptions(c.ctx, c.account, c.p["NextToken"]))
}

func (s *Store) apiListSubscriptionsByTopic(c *call) (any, error) {
	arn, err := c.required("TopicArn")
	if err != nil {
		return nil, err
	}
	return subsResult(s.ListSubscriptionsByTopic(c.ctx, c.account, arn, c.p["NextToken"]))
}

func (s *Store) apiGetSubscriptionAttributes(c *call) (any, error) {
	u, err := s.subParam(c, s.db)
	if err != nil {
		return nil, err
	}
	t, err := getTopic(c.ctx, s.db, c.account, u.TopicARN)
	if err != nil {
		return nil, err
	}
	m := map[string]string{
		"SubscriptionArn":              u.ARN,
		"TopicArn":                     u.TopicARN,
		"Owner":                        u.AccountID,
		"Protocol":                     u.Protocol,
		"Endpoint":                     u.Endpoint,
		"ConfirmationWasAuthenticated": strconv.FormatBool(u.Authenticated),
		"PendingConfirmation":          strconv.FormatBool(u.State == statePending),
		"RawMessageDelivery":           strconv.FormatBool(u.raw()),
		"SubscriptionPrincipal":        "arn:aws:iam::" + u.AccountID + ":root",
	}
	if u.Protocol == "http" || u.Protocol == "https" {
		m["EffectiveDeliveryPolicy"] = effectiveSubJSON(t.Attrs["DeliveryPolicy"], u.Attrs["DeliveryPolicy"])
	}
	if v := u.Attrs["DeliveryPolicy"]; v != "" {
		m["DeliveryPolicy"] = v
	}
	return attributesResult{sortedEntries(m)}, nil
}

func (s *Store) apiSetSubscriptionAttributes(c *call) (any, error) {
	name, err := c.required("AttributeName")
	if err != nil {
		return nil, err
	}
	value := c.p["AttributeValue"]
	return nil, s.db.InTx(c.ctx, func(tx *db.Tx) error {
		u, err := s.subParam(c, tx)
		if err != nil {
			return err
		}
		if !(name == "DeliveryPolicy" && value == "") {
			if err := checkSubAttr(u.Protocol, name, value); err != nil {
				return err
			}
		}
		if value == "" || name == "RawMessageDelivery" && value == "false" {
			delete(u.Attrs, name)
		} else {
			u.Attrs[name] = value
		}
		return setSubAttrs(c.ctx, tx, u.ARN, u.Attrs)
	})
}

// checkSubject applies SNS's rules for a Subject: at most 100
// characters, printable ASCII, no line breaks, starting with a letter,
// digit or punctuation.
func checkSubject(subj string) error {
	if subj == "" {
		return invalid("Invalid parameter: Subject Reason: must not be empty when given")
	}
	if len(subj) > maxSubject {
		return invalid("Invalid parameter: Subject Reason: must be at most %d characters", maxSubject)
	}
	for i := 0; i < len(subj); i++ {
		if subj[i] < 0x20 || subj[i] > 0x7e {
			return invalid("Invalid parameter: Subject Reason: must be printable ASCII without line breaks")
		}
	}
	if subj[0] == ' ' {
		return invalid("Invalid parameter: Subject Reason: must start with a letter, number or punctuation mark")
	}
	return nil
}

type publishResult struct {
	MessageId string
}

func (s *Store) apiPublish(c *call) (any, error) {
	if c.p["PhoneNumber"] != "" {
		return nil, invalid("Invalid parameter: PhoneNumber Reason: SMS is not supported by Sesame")
	}
	arnParam := "TopicArn"
	if c.p["TopicArn"] == "" && c.p["TargetArn"] != "" {
		arnParam = "TargetArn"
	}
	if c.p.hasPrefix("MessageAttributes.") {
		return nil, invalid("Invalid parameter: MessageAttributes Reason: message attributes are not supported by Sesame")
	}
	for _, n := range []string{"MessageGroupId", "MessageDeduplicationId"} {
		if c.p[n] != "" {
			return nil, invalid("Invalid parameter: %s Reason: The request includes %s parameter that is not valid for this topic type", n, n)
		}
	}
	msg, ok := c.p["Message"]
	if !ok || msg == "" {
		return nil, invalid("Invalid parameter: Empty message")
	}
	if len(msg) > maxMessage {
		return nil, invalid("Invalid parameter: Message too long")
	}
	if !utf8.ValidString(msg) {
		return nil, invalid("Invalid parameter: Message Reason: must be UTF-8")
	}
	subject, hasSubject := c.p["Subject"]
	if hasSubject {
		if err := checkSubject(subject); err != nil {
			return nil, err
		}
	}
	messages := map[string]string{"default": msg}
	switch st := c.p["MessageStructure"]; st {
	case "":
	case "json":
		m, err := parseStructure(msg)
		if err != nil {
			return nil, invalid("%s", err.Error())
		}
		messages = m
	default:
		return nil, invalid("Invalid parameter: MessageStructure Reason: must be json")
	}
	var id string
	err := s.db.InTx(c.ctx, func(tx *db.Tx) error {
		t, err := s.topicParam(c, tx, arnParam)
		if err != nil {
			return err
		}
		id, err = s.publishTx(c.ctx, tx, c.account, t.ARN, subject, messages)
		return err
	})
	if err != nil {
		return nil, err
	}
	return publishResult{id}, nil
}

// resourceParam reads ResourceArn for the tagging actions: one of the
// caller's topics, ResourceNotFound otherwise.
func (s *Store) resourceParam(c *call, q db.Querier) (*topic, error) {
	arn, err := c.required("ResourceArn")
	if err != nil {
		return nil, err
	}
	p, ok := s.parseARN(arn)
	if !ok || p.sub != "" {
		return nil, invalid("Invalid parameter: ResourceArn Reason: must be the ARN of a topic")
	}
	if p.account != c.account {
		return nil, notAuthorized(c.account, c.action, arn)
	}
	t, err := getTopic(c.ctx, q, c.account, arn)
	if errors.Is(err, ErrTopicNotFound) {
		return nil, errResourceGone
	}
	return t, err
}

func (s *Store) apiTagResource(c *call) (any, error) {
	tags, err := c.p.tags("Tags")
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	if len(tags) == 0 {
		return nil, invalid("Invalid parameter: Tags Reason: at least one tag is required")
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	return emptyResult{}, s.db.InTx(c.ctx, func(tx *db.Tx) error {
		t, err := s.resourceParam(c, tx)
		if err != nil {
			return err
		}
		cur, err := topicTags(c.ctx, tx, t.ARN)
		if err != nil {
			return err
		}
		add := map[string]string{}
		for _, tg := range tags {
			cur[tg.Key] = tg.Value
			add[tg.Key] = tg.Value
		}
		if len(cur) > maxTags {
			return apiError(http.StatusBadRequest, "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
		}
		return putTags(c.ctx, tx, t.ARN, add)
	})
}

func (s *Store) apiUntagResource(c *call) (any, error) {
	keys, err := c.p.list("TagKeys")
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	if len(keys) == 0 {
		return nil, invalid("Invalid parameter: TagKeys Reason: at least one key is required")
	}
	return emptyResult{}, s.db.InTx(c.ctx, func(tx *db.Tx) error {
		t, err := s.resourceParam(c, tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.Exec(c.ctx, `DELETE FROM sns_tags WHERE arn = ? AND tag_key = ?`, t.ARN, k); err != nil {
				return fmt.Errorf("sns: untag: %w", err)
			}
		}
		return nil
	})
}

type tagMember struct {
	Key   string
	Value string
}

type listTagsResult struct {
	Tags []tagMember `xml:"Tags>member"`
}

func (s *Store) apiListTagsForResource(c *call) (any, error) {
	t, err := s.resourceParam(c, s.db)
	if err != nil {
		return nil, err
	}
	m, err := topicTags(c.ctx, s.db, t.ARN)
	if err != nil {
		return nil, err
	}
	res := listTagsResult{Tags: []tagMember{}}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		res.Tags = append(res.Tags, tagMember{k, m[k]})
	}
	return res, nil
}
