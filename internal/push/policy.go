package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The backoff functions of SNS's healthyRetryPolicy.
const (
	Linear      = "linear"
	Arithmetic  = "arithmetic"
	Geometric   = "geometric"
	Exponential = "exponential"
)

// DefaultPolicy is Sesame's retry policy for an endpoint whose
// subscription and topic set none: 100 retries over about 15 hours (see
// the package documentation for why it is not SNS's 3 retries).
var DefaultPolicy = Policy{
	MinDelay:           time.Second,
	MaxDelay:           10 * time.Minute,
	NumRetries:         100,
	NumMaxDelayRetries: 88,
	Backoff:            Exponential,
}

// SNS's bounds and defaults for a healthyRetryPolicy.
const (
	maxRetries      = 100
	minDelaySeconds = 1
	maxDelaySeconds = 3600
	maxTotalSeconds = 3600 // the whole schedule: SNS's one-hour limit
	snsDefaultDelay = 20   // seconds, minDelayTarget and maxDelayTarget
	snsDefaultTries = 3
)

// ErrInvalidPolicy is wrapped by ParsePolicy's and ParseDeliveryPolicy's
// errors (SNS answers InvalidParameter) and by AddTx for a Policy that
// cannot be followed.
var ErrInvalidPolicy = errors.New("invalid delivery policy")

// backoffPhase is the number of retries of the backoff phase.
func (p Policy) backoffPhase() int {
	return p.NumRetries - p.NumNoDelayRetries - p.NumMinDelayRetries - p.NumMaxDelayRetries
}

// Delay is the wait before retry number retry (1 for the first retry,
// which follows the first attempt), without jitter; see the package
// documentation for the phases and backoff functions. Retries beyond
// NumRetries get MaxDelay.
func (p Policy) Delay(retry int) time.Duration {
	if p == (Policy{}) {
		p = DefaultPolicy
	}
	switch n := p.backoffPhase(); {
	case retry <= p.NumNoDelayRetries:
		return 0
	case retry <= p.NumNoDelayRetries+p.NumMinDelayRetries:
		return p.MinDelay
	case retry <= p.NumNoDelayRetries+p.NumMinDelayRetries+n:
		k := retry - p.NumNoDelayRetries - p.NumMinDelayRetries - 1
		if n <= 1 || p.MaxDelay <= p.MinDelay {
			return p.MinDelay
		}
		t := float64(k) / float64(n-1)
		lo, hi := float64(p.MinDelay), float64(p.MaxDelay)
		var d float64
		switch strings.ToLower(p.Backoff) {
		case Arithmetic:
			d = lo + (hi-lo)*t*t
		case Geometric:
			d = lo + (hi-lo)*t*t*t
		case Exponential:
			if lo <= 0 {
				d = hi * t // no ratio from zero: grow linearly
			} else {
				d = lo * math.Pow(hi/lo, t)
			}
		default: // linear
			d = lo + (hi-lo)*t
		}
		return min(max(time.Duration(math.Round(d)), p.MinDelay), p.MaxDelay)
	default:
		return p.MaxDelay
	}
}

// Total is the sum of the delays of all NumRetries retries: how long
// after a first failed attempt the last retry comes (attempt times and
// jitter aside).
func (p Policy) Total() time.Duration {
	if p == (Policy{}) {
		p = DefaultPolicy
	}
	var t time.Duration
	for r := 1; r <= p.NumRetries; r++ {
		t += p.Delay(r)
	}
	return t
}

// Validate reports whether the queue can follow p: counts not negative,
// the phases within NumRetries, MinDelay ≤ MaxDelay, a known backoff
// function ("" is linear). It does not apply SNS's bounds (ParsePolicy
// does): DefaultPolicy is beyond them.
func (p Policy) Validate() error {
	switch {
	case p.NumRetries < 0 || p.NumNoDelayRetries < 0 || p.NumMinDelayRetries < 0 || p.NumMaxDelayRetries < 0:
		return fmt.Errorf("%w: retry counts must not be negative", ErrInvalidPolicy)
	case p.backoffPhase() < 0:
		return fmt.Errorf("%w: NumNoDelayRetries + NumMinDelayRetries + NumMaxDelayRetries (%d) must not exceed NumRetries (%d)",
			ErrInvalidPolicy, p.NumNoDelayRetries+p.NumMinDelayRetries+p.NumMaxDelayRetries, p.NumRetries)
	case p.MinDelay < 0 || p.MaxDelay < p.MinDelay:
		return fmt.Errorf("%w: MinDelay (%s) must be at least 0 and at most MaxDelay (%s)", ErrInvalidPolicy, p.MinDelay, p.MaxDelay)
	case p.MaxReceivesPerSecond < 0:
		return fmt.Errorf("%w: MaxReceivesPerSecond must not be negative", ErrInvalidPolicy)
	}
	switch strings.ToLower(p.Backoff) {
	case "", Linear, Arithmetic, Geometric, Exponential:
		return nil
	}
	return fmt.Errorf("%w: Backoff %q is not linear, arithmetic, geometric or exponential", ErrInvalidPolicy, p.Backoff)
}

// DeliveryPolicy is an SNS DeliveryPolicy attribute, parsed.
type DeliveryPolicy struct {
	// Retry is the healthyRetryPolicy (MaxReceivesPerSecond unset); nil
	// when the document has none.
	Retry *Policy
	// MaxReceivesPerSecond is the throttlePolicy; 0: none.
	MaxReceivesPerSecond int
	// HeaderContentType is the requestPolicy's headerContentType; "":
	// none (SNS sends "text/plain; charset=UTF-8").
	HeaderContentType string
	// DisableSubscriptionOverrides is the topic form's flag: the topic's
	// policy applies even to subscriptions that set their own.
	DisableSubscriptionOverrides bool
}

// Effective is the Policy deliveries follow under d alone: its
// healthyRetryPolicy, or DefaultPolicy when it has none, with its
// throttle. (Merging a topic's policy with a subscription's is the SNS
// store's business: a subscription's policy wins unless the topic
// disables overrides.)
func (d DeliveryPolicy) Effective() Policy {
	p := DefaultPolicy
	if d.Retry != nil {
		p = *d.Retry
	}
	p.MaxReceivesPerSecond = d.MaxReceivesPerSecond
	return p
}

// JSON is d in SNS's subscription form, as GetSubscriptionAttributes
// shows a DeliveryPolicy; parts d lacks are left out.
func (d DeliveryPolicy) JSON() string {
	m := map[string]any{}
	if r := d.Retry; r != nil {
		backoff := strings.ToLower(r.Backoff)
		if backoff == "" {
			backoff = Linear
		}
		m["healthyRetryPolicy"] = map[string]any{
			"minDelayTarget":     int64(r.MinDelay / time.Second),
			"maxDelayTarget":     int64(r.MaxDelay / time.Second),
			"numRetries":         r.NumRetries,
			"numNoDelayRetries":  r.NumNoDelayRetries,
			"numMinDelayRetries": r.NumMinDelayRetries,
			"numMaxDelayRetries": r.NumMaxDelayRetries,
			"backoffFunction":    backoff,
		}
	}
	if d.MaxReceivesPerSecond > 0 {
		m["throttlePolicy"] = map[string]any{"maxReceivesPerSecond": d.MaxReceivesPerSecond}
	}
	if d.HeaderContentType != "" {
		m["requestPolicy"] = map[string]any{"headerContentType": d.HeaderContentType}
	}
	b, _ := json.Marshal(m) // maps of strings and numbers always marshal
	return string(b)
}

// ParsePolicy turns an SNS DeliveryPolicy attribute — a subscription's
// ({"healthyRetryPolicy":{...},"throttlePolicy":{...},"requestPolicy":
// {...}}) or a topic's ({"http":{"defaultHealthyRetryPolicy":{...},...}})
// — into the Policy its deliveries follow (DeliveryPolicy.Effective). An
// empty document is DefaultPolicy.
func ParsePolicy(deliveryPolicyJSON string) (Policy, error) {
	d, err := ParseDeliveryPolicy(deliveryPolicyJSON)
	if err != nil {
		return Policy{}, err
	}
	return d.Effective(), nil
}

// The content types SNS accepts as requestPolicy.headerContentType.
var contentTypes = []string{
	"application/json", "application/xml", "text/plain",
	"application/json; charset=UTF-8", "application/xml; charset=UTF-8", "text/plain; charset=UTF-8",
	"text/xml", "text/xml; charset=UTF-8", "text/html", "text/html; charset=UTF-8",
}

// ParseDeliveryPolicy parses an SNS DeliveryPolicy attribute (see
// ParsePolicy) with SNS's rules: numRetries 0–100; minDelayTarget and
// maxDelayTarget whole seconds from 1 to 3600, minDelayTarget ≤
// maxDelayTarget; the phase counts not negative and together at most
// numRetries; backoffFunction linear, arithmetic, geometric or
// exponential (any case); the whole schedule at most 3600 seconds (SNS's
// hard limit); maxReceivesPerSecond at least 1; headerContentType one SNS
// supports. Fields a healthyRetryPolicy leaves out take SNS's defaults
// (20-second delays, 3 retries, no other phase, linear). Unknown fields
// are refused, so that a misspelt one is not silently ignored; the
// sicklyRetryPolicy and guaranteed fields that SNS's own
// EffectiveDeliveryPolicy shows are accepted and ignored. Every error
// wraps ErrInvalidPolicy and names the field, as SNS's do
// ("DeliveryPolicy: healthyRetryPolicy.minDelayTarget must be ...").
func ParseDeliveryPolicy(s string) (DeliveryPolicy, error) {
	var d DeliveryPolicy
	if strings.TrimSpace(s) == "" {
		return d, nil
	}
	top, err := object(s, "")
	if err != nil {
		return d, err
	}
	if raw, ok := top["http"]; ok { // the topic form
		if len(top) != 1 {
			return d, invalid("", "must have only the field http in a topic's policy")
		}
		http, err := object(string(raw), "http")
		if err != nil {
			return d, err
		}
		return parseParts(http, "http.", "defaultHealthyRetryPolicy", "defaultThrottlePolicy", "defaultRequestPolicy", true)
	}
	return parseParts(top, "", "healthyRetryPolicy", "throttlePolicy", "requestPolicy", false)
}

func parseParts(m map[string]json.RawMessage, prefix, retryKey, throttleKey, requestKey string, topic bool) (DeliveryPolicy, error) {
	var d DeliveryPolicy
	known := map[string]bool{retryKey: true, throttleKey: true, requestKey: true, "sicklyRetryPolicy": true, "guaranteed": true}
	if topic {
		known["disableSubscriptionOverrides"] = true
		known["defaultSicklyRetryPolicy"] = true
	}
	if err := unknown(m, known, prefix); err != nil {
		return d, err
	}
	if raw, ok := m[retryKey]; ok && !isNull(raw) {
		p, err := parseRetry(raw, prefix+retryKey)
		if err != nil {
			return d, err
		}
		d.Retry = &p
	}
	if raw, ok := m[throttleKey]; ok && !isNull(raw) {
		t, err := object(string(raw), prefix+throttleKey)
		if err != nil {
			return d, err
		}
		field := prefix + throttleKey + ".maxReceivesPerSecond"
		if err := unknown(t, map[string]bool{"maxReceivesPerSecond": true}, prefix+throttleKey+"."); err != nil {
			return d, err
		}
		if raw, ok := t["maxReceivesPerSecond"]; ok && !isNull(raw) {
			n, err := integer(raw, field)
			if err != nil {
				return d, err
			}
			if n < 1 || n > math.MaxInt32 {
				return d, invalid(field, "must be greater than or equal to 1")
			}
			d.MaxReceivesPerSecond = int(n)
		}
	}
	if raw, ok := m[requestKey]; ok && !isNull(raw) {
		r, err := object(string(raw), prefix+requestKey)
		if err != nil {
			return d, err
		}
		if err := unknown(r, map[string]bool{"headerContentType": true}, prefix+requestKey+"."); err != nil {
			return d, err
		}
		if raw, ok := r["headerContentType"]; ok && !isNull(raw) {
			field := prefix + requestKey + ".headerContentType"
			var ct string
			if err := json.Unmarshal(raw, &ct); err != nil {
				return d, invalid(field, "must be a string")
			}
			i := indexFold(contentTypes, ct)
			if i < 0 {
				return d, invalid(field, "must be one of "+strings.Join(contentTypes, ", "))
			}
			d.HeaderContentType = contentTypes[i]
		}
	}
	if raw, ok := m["disableSubscriptionOverrides"]; ok && topic && !isNull(raw) {
		if err := json.Unmarshal(raw, &d.DisableSubscriptionOverrides); err != nil {
			return d, invalid(prefix+"disableSubscriptionOverrides", "must be true or false")
		}
	}
	return d, nil
}

// parseRetry parses a healthyRetryPolicy object named name.
func parseRetry(raw json.RawMessage, name string) (Policy, error) {
	m, err := object(string(raw), name)
	if err != nil {
		return Policy{}, err
	}
	ints := []string{"minDelayTarget", "maxDelayTarget", "numRetries", "numNoDelayRetries", "numMinDelayRetries", "numMaxDelayRetries"}
	known := map[string]bool{"backoffFunction": true}
	for _, k := range ints {
		known[k] = true
	}
	if err := unknown(m, known, name+"."); err != nil {
		return Policy{}, err
	}
	v := map[string]int64{"minDelayTarget": snsDefaultDelay, "maxDelayTarget": snsDefaultDelay, "numRetries": snsDefaultTries}
	for _, k := range ints {
		raw, ok := m[k]
		if !ok || isNull(raw) {
			continue
		}
		n, err := integer(raw, name+"."+k)
		if err != nil {
			return Policy{}, err
		}
		v[k] = n
	}
	for _, k := range []string{"minDelayTarget", "maxDelayTarget"} {
		if v[k] < minDelaySeconds {
			return Policy{}, invalid(name+"."+k, fmt.Sprintf("must be greater than or equal to %d", minDelaySeconds))
		}
		if v[k] > maxDelaySeconds {
			return Policy{}, invalid(name+"."+k, fmt.Sprintf("must be less than or equal to %d", maxDelaySeconds))
		}
	}
	if v["minDelayTarget"] > v["maxDelayTarget"] {
		return Policy{}, invalid(name+".minDelayTarget", "must be less than or equal to maxDelayTarget")
	}
	if n := v["numRetries"]; n < 0 || n > maxRetries {
		return Policy{}, invalid(name+".numRetries", fmt.Sprintf("must be between 0 and %d", maxRetries))
	}
	for _, k := range ints[3:] {
		if v[k] < 0 {
			return Policy{}, invalid(name+"."+k, "must be greater than or equal to 0")
		}
		if v[k] > v["numRetries"] {
			return Policy{}, invalid(name+"."+k, "must be less than or equal to numRetries")
		}
	}
	if v["numNoDelayRetries"]+v["numMinDelayRetries"]+v["numMaxDelayRetries"] > v["numRetries"] {
		return Policy{}, invalid(name+".numRetries", "must be at least numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries")
	}
	p := Policy{
		MinDelay:           time.Duration(v["minDelayTarget"]) * time.Second,
		MaxDelay:           time.Duration(v["maxDelayTarget"]) * time.Second,
		NumRetries:         int(v["numRetries"]),
		NumNoDelayRetries:  int(v["numNoDelayRetries"]),
		NumMinDelayRetries: int(v["numMinDelayRetries"]),
		NumMaxDelayRetries: int(v["numMaxDelayRetries"]),
		Backoff:            Linear,
	}
	if raw, ok := m["backoffFunction"]; ok && !isNull(raw) {
		var b string
		if err := json.Unmarshal(raw, &b); err != nil {
			return Policy{}, invalid(name+".backoffFunction", "must be a string")
		}
		switch b = strings.ToLower(b); b {
		case Linear, Arithmetic, Geometric, Exponential:
			p.Backoff = b
		default:
			return Policy{}, invalid(name+".backoffFunction", "must be one of linear, arithmetic, geometric, exponential")
		}
	}
	if t := p.Total(); t > maxTotalSeconds*time.Second {
		return Policy{}, invalid(name, fmt.Sprintf("retries would take %d seconds in all; the limit is %d", int64(t/time.Second), maxTotalSeconds))
	}
	return p, nil
}

func invalid(field, rule string) error {
	if field == "" {
		return fmt.Errorf("%w: DeliveryPolicy %s", ErrInvalidPolicy, rule)
	}
	return fmt.Errorf("%w: DeliveryPolicy: %s %s", ErrInvalidPolicy, field, rule)
}

// object decodes a JSON object named name ("" for the document).
func object(s, name string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		if name == "" {
			return nil, invalid("", "must be a JSON object")
		}
		return nil, invalid(name, "must be a JSON object")
	}
	return m, nil
}

// unknown refuses a field of m not in known.
func unknown(m map[string]json.RawMessage, known map[string]bool, prefix string) error {
	var bad []string
	for k := range m {
		if !known[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return invalid(prefix+bad[0], "is not a field of a delivery policy")
}

// integer reads a whole number, given as a JSON number or a string.
func integer(raw json.RawMessage, field string) (int64, error) {
	raw = bytes.TrimSpace(raw)
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, invalid(field, "must be an integer")
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		// 5.0 is an integer too.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, invalid(field, "must be an integer")
		}
		n = int64(f)
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, invalid(field, "is out of range")
	}
	return n, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func indexFold(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(strings.ReplaceAll(x, " ", ""), strings.ReplaceAll(strings.TrimSpace(s), " ", "")) {
			return i
		}
	}
	return -1
}
