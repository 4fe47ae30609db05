package sns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sesame-email/sesame/internal/push"
)

// SNS's HTTP/S delivery policies. A topic's DeliveryPolicy is
//
//	{"http": {"defaultHealthyRetryPolicy": {...}, "defaultThrottlePolicy": {...},
//	          "defaultRequestPolicy": {...}, "disableSubscriptionOverrides": false}}
//
// and a subscription's
//
//	{"healthyRetryPolicy": {...}, "throttlePolicy": {...}, "requestPolicy": {...}}
//
// A subscription's policy wins over its topic's unless the topic says
// disableSubscriptionOverrides. The result is a push.Policy (retries)
// and the request policy's content type.

// retryPolicy is a healthyRetryPolicy; pointers tell absent from zero.
type retryPolicy struct {
	MinDelayTarget     *int    `json:"minDelayTarget,omitempty"`
	MaxDelayTarget     *int    `json:"maxDelayTarget,omitempty"`
	NumRetries         *int    `json:"numRetries,omitempty"`
	NumMaxDelayRetries *int    `json:"numMaxDelayRetries,omitempty"`
	NumNoDelayRetries  *int    `json:"numNoDelayRetries,omitempty"`
	NumMinDelayRetries *int    `json:"numMinDelayRetries,omitempty"`
	BackoffFunction    *string `json:"backoffFunction,omitempty"`
}

type throttlePolicy struct {
	MaxReceivesPerSecond *int `json:"maxReceivesPerSecond,omitempty"`
}

type requestPolicy struct {
	HeaderContentType *string `json:"headerContentType,omitempty"`
}

type subPolicy struct {
	HealthyRetryPolicy *retryPolicy    `json:"healthyRetryPolicy,omitempty"`
	ThrottlePolicy     *throttlePolicy `json:"throttlePolicy,omitempty"`
	RequestPolicy      *requestPolicy  `json:"requestPolicy,omitempty"`
	// SNS reports these in EffectiveDeliveryPolicy; a policy copied from
	// it may carry them with those values (null, false) and nothing else.
	SicklyRetryPolicy json.RawMessage `json:"sicklyRetryPolicy,omitempty"`
	Guaranteed        *bool           `json:"guaranteed,omitempty"`
}

type topicHTTPPolicy struct {
	DefaultSicklyRetryPolicy     json.RawMessage `json:"defaultSicklyRetryPolicy,omitempty"` // null only (see subPolicy)
	DefaultHealthyRetryPolicy    *retryPolicy    `json:"defaultHealthyRetryPolicy,omitempty"`
	DefaultThrottlePolicy        *throttlePolicy `json:"defaultThrottlePolicy,omitempty"`
	DefaultRequestPolicy         *requestPolicy  `json:"defaultRequestPolicy,omitempty"`
	DisableSubscriptionOverrides bool            `json:"disableSubscriptionOverrides"`
}

type topicPolicy struct {
	HTTP *topicHTTPPolicy `json:"http,omitempty"`
}

// contentTypes are the headerContentType values SNS accepts.
var contentTypes = []string{
	"text/plain", "application/json", "application/xml",
	"text/plain; charset=UTF-8", "application/json; charset=UTF-8", "application/xml; charset=UTF-8",
}

// defaultContentType is the Content-Type of deliveries.
const defaultContentType = "text/plain; charset=UTF-8"

// decodeStrict decodes JSON refusing unknown fields and trailing data.
func decodeStrict(s string, v any) error {
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}

func (p *retryPolicy) check() error {
	if p == nil {
		return nil
	}
	get := func(v *int, def int) int {
		if v == nil {
			return def
		}
		return *v
	}
	minD, maxD := get(p.MinDelayTarget, 20), get(p.MaxDelayTarget, 20)
	n := get(p.NumRetries, 3)
	switch {
	case minD < 1 || minD > maxD:
		return fmt.Errorf("minDelayTarget must be from 1 to maxDelayTarget")
	case maxD > 3600:
		return fmt.Errorf("maxDelayTarget must be at most 3600")
	case n < 0 || n > 100:
		return fmt.Errorf("numRetries must be from 0 to 100")
	case get(p.NumMaxDelayRetries, 0) < 0 || get(p.NumNoDelayRetries, 0) < 0 || get(p.NumMinDelayRetries, 0) < 0:
		return fmt.Errorf("retry counts must not be negative")
	case get(p.NumMaxDelayRetries, 0)+get(p.NumNoDelayRetries, 0)+get(p.NumMinDelayRetries, 0) > n:
		return fmt.Errorf("numNoDelayRetries, numMinDelayRetries and numMaxDelayRetries together must not exceed numRetries")
	}
	if p.BackoffFunction != nil && !slices.Contains([]string{"linear", "arithmetic", "geometric", "exponential"}, *p.BackoffFunction) {
		return fmt.Errorf("backoffFunction must be linear, arithmetic, geometric or exponential")
	}
	return nil
}

func (p *throttlePolicy) check() error {
	if p != nil && p.MaxReceivesPerSecond != nil && *p.MaxReceivesPerSecond < 1 {
		return fmt.Errorf("maxReceivesPerSecond must be at least 1")
	}
	return nil
}

func (p *requestPolicy) check() error {
	if p != nil && p.HeaderContentType != nil && !slices.Contains(contentTypes, *p.HeaderContentType) {
		return fmt.Errorf("headerContentType must be one of %q", contentTypes)
	}
	return nil
}

// checkSickly accepts only an absent or null sickly retry policy, which
// SNS does not apply either.
func checkSickly(raw json.RawMessage) error {
	if len(raw) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		return fmt.Errorf("a sicklyRetryPolicy is not supported by Sesame (only healthyRetryPolicy)")
	}
	return nil
}

// parseTopicPolicy checks a topic's DeliveryPolicy ("" is none).
func parseTopicPolicy(s string) (*topicPolicy, error) {
	p := &topicPolicy{}
	if s == "" {
		return p, nil
	}
	if err := decodeStrict(s, p); err != nil {
		return nil, err
	}
	if h := p.HTTP; h != nil {
		for _, err := range []error{h.DefaultHealthyRetryPolicy.check(), h.DefaultThrottlePolicy.check(), h.DefaultRequestPolicy.check(), checkSickly(h.DefaultSicklyRetryPolicy)} {
			if err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// parseSubPolicy checks a subscription's DeliveryPolicy ("" is none).
func parseSubPolicy(s string) (*subPolicy, error) {
	p := &subPolicy{}
	if s == "" {
		return p, nil
	}
	if err := decodeStrict(s, p); err != nil {
		return nil, err
	}
	if p.Guaranteed != nil && *p.Guaranteed {
		return nil, fmt.Errorf("guaranteed delivery is not supported by Sesame")
	}
	for _, err := range []error{p.HealthyRetryPolicy.check(), p.ThrottlePolicy.check(), p.RequestPolicy.check(), checkSickly(p.SicklyRetryPolicy)} {
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// effective merges a subscription's policy over its topic's (both
// checked); the result has every field set.
func effective(topicJSON, subJSON string) subPolicy {
	tp, _ := parseTopicPolicy(topicJSON)
	sp, _ := parseSubPolicy(subJSON)
	if tp == nil {
		tp = &topicPolicy{}
	}
	if sp == nil {
		sp = &subPolicy{}
	}
	out := subPolicy{HealthyRetryPolicy: &retryPolicy{}, RequestPolicy: &requestPolicy{}}
	var layers []subPolicy
	if h := tp.HTTP; h != nil {
		layers = append(layers, subPolicy{HealthyRetryPolicy: h.DefaultHealthyRetryPolicy, ThrottlePolicy: h.DefaultThrottlePolicy, RequestPolicy: h.DefaultRequestPolicy})
		if !h.DisableSubscriptionOverrides {
			layers = append(layers, *sp)
		}
	} else {
		layers = append(layers, *sp)
	}
	r := out.HealthyRetryPolicy
	for _, l := range layers {
		if h := l.HealthyRetryPolicy; h != nil {
			for _, f := range []struct{ dst, src **int }{{&r.MinDelayTarget, &h.MinDelayTarget}, {&r.MaxDelayTarget, &h.MaxDelayTarget},
				{&r.NumRetries, &h.NumRetries}, {&r.NumMaxDelayRetries, &h.NumMaxDelayRetries}, {&r.NumNoDelayRetries, &h.NumNoDelayRetries},
				{&r.NumMinDelayRetries, &h.NumMinDelayRetries}} {
				if *f.src != nil {
					*f.dst = *f.src
				}
			}
			if h.BackoffFunction != nil {
				r.BackoffFunction = h.BackoffFunction
			}
		}
		if t := l.ThrottlePolicy; t != nil && t.MaxReceivesPerSecond != nil {
			out.ThrottlePolicy = &throttlePolicy{MaxReceivesPerSecond: t.MaxReceivesPerSecond}
		}
		if q := l.RequestPolicy; q != nil && q.HeaderContentType != nil {
			out.RequestPolicy.HeaderContentType = q.HeaderContentType
		}
	}
	def := func(p **int, v int) {
		if *p == nil {
			*p = &v
		}
	}
	if *r == (retryPolicy{}) {
		// No policy names any retry field: Sesame's default, which
		// outlasts a subscriber down for hours (SNS's own, three retries
		// 20 s apart, would lose every event of a one-minute outage).
		d := push.DefaultPolicy
		def(&r.MinDelayTarget, int(d.MinDelay/time.Second))
		def(&r.MaxDelayTarget, int(d.MaxDelay/time.Second))
		def(&r.NumRetries, d.NumRetries)
		def(&r.NumMaxDelayRetries, d.NumMaxDelayRetries)
		def(&r.NumNoDelayRetries, d.NumNoDelayRetries)
		def(&r.NumMinDelayRetries, d.NumMinDelayRetries)
		b := d.Backoff
		r.BackoffFunction = &b
	}
	// A policy that names some fields: SNS's defaults for the others.
	def(&r.MinDelayTarget, 20)
	def(&r.MaxDelayTarget, 20)
	def(&r.NumRetries, 3)
	def(&r.NumMaxDelayRetries, 0)
	def(&r.NumNoDelayRetries, 0)
	def(&r.NumMinDelayRetries, 0)
	if *r.MinDelayTarget > *r.MaxDelayTarget {
		// Each layer was checked alone; merged, a subscription's
		// minimum may pass its topic's maximum: the minimum wins.
		r.MaxDelayTarget = r.MinDelayTarget
	}
	// Likewise the phases of one layer may outnumber the other's
	// numRetries: the retries come in the order of the phases (no delay,
	// minimum delay, backoff, maximum delay), so the later phases are
	// cut. The push queue refuses a policy whose phases do not fit, and
	// that would fail every publish to the subscription (and the outbox
	// publisher's whole batch).
	left := *r.NumRetries
	for _, n := range []*int{r.NumNoDelayRetries, r.NumMinDelayRetries, r.NumMaxDelayRetries} {
		*n = min(*n, left)
		left -= *n
	}
	if r.BackoffFunction == nil {
		b := "linear"
		r.BackoffFunction = &b
	}
	if out.RequestPolicy.HeaderContentType == nil {
		c := defaultContentType
		out.RequestPolicy.HeaderContentType = &c
	}
	return out
}

// pushPolicy is the push queue's form of an effective policy.
func (p subPolicy) pushPolicy() push.Policy {
	r := p.HealthyRetryPolicy
	pp := push.Policy{
		MinDelay:           time.Duration(*r.MinDelayTarget) * time.Second,
		MaxDelay:           time.Duration(*r.MaxDelayTarget) * time.Second,
		NumRetries:         *r.NumRetries,
		NumNoDelayRetries:  *r.NumNoDelayRetries,
		NumMinDelayRetries: *r.NumMinDelayRetries,
		NumMaxDelayRetries: *r.NumMaxDelayRetries,
		Backoff:            *r.BackoffFunction,
	}
	if p.ThrottlePolicy != nil && p.ThrottlePolicy.MaxReceivesPerSecond != nil {
		pp.MaxReceivesPerSecond = *p.ThrottlePolicy.MaxReceivesPerSecond
	}
	return pp
}

// effectiveTopicJSON is a topic's EffectiveDeliveryPolicy.
func effectiveTopicJSON(topicJSON string) string {
	e := effective(topicJSON, "")
	tp, _ := parseTopicPolicy(topicJSON)
	h := topicHTTPPolicy{DefaultHealthyRetryPolicy: e.HealthyRetryPolicy, DefaultThrottlePolicy: e.ThrottlePolicy, DefaultRequestPolicy: e.RequestPolicy}
	if tp != nil && tp.HTTP != nil {
		h.DisableSubscriptionOverrides = tp.HTTP.DisableSubscriptionOverrides
	}
	b, _ := json.Marshal(topicPolicy{HTTP: &h})
	return string(b)
}

// effectiveSubJSON is a subscription's EffectiveDeliveryPolicy.
func effectiveSubJSON(topicJSON, subJSON string) string {
	b, _ := json.Marshal(effective(topicJSON, subJSON))
	return string(b)
}
