package push

import (
	"net/http"
	"time"
)

// Delivery is one notification to POST to one endpoint.
type Delivery struct {
	AccountID       string
	TopicARN        string
	SubscriptionARN string // "" for a delivery not tied to a subscription
	// Endpoint is the http:// or https:// URL to POST to.
	Endpoint string
	// Header holds the request's headers (Content-Type, x-amz-sns-*).
	Header http.Header
	// Body is the request body as it is sent on every attempt, or, when
	// Sign is set, as Options.Sign is given it before every attempt.
	Body []byte
	// Sign says the body is to be completed by Options.Sign just before
	// each POST (SNS's message signature, made by the workers rather
	// than in the caller's transaction).
	Sign bool
	// Policy says how failed attempts are retried.
	Policy Policy
}

// Policy is SNS's healthyRetryPolicy for HTTP/S endpoints.
type Policy struct {
	MinDelay, MaxDelay   time.Duration
	NumRetries           int // attempts after the first
	NumNoDelayRetries    int
	NumMinDelayRetries   int
	NumMaxDelayRetries   int
	Backoff              string // "linear", "arithmetic", "geometric" or "exponential"
	MaxReceivesPerSecond int    // throttlePolicy; 0: unlimited
}
