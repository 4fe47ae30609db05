// Package push delivers notifications to HTTP and HTTPS endpoints, the way
// Amazon SNS delivers to its http/https subscriptions: durably queued (in
// the transaction that produced them), retried on failure under a delivery
// policy, parked when the policy is spent, and never holding up one
// endpoint behind another.
//
// The SNS store (internal/sns) calls Queue.AddTx in the transaction that
// publishes a message, with the request it built (headers and body);
// Run delivers. Nothing on the sending path waits for a subscriber. A
// delivery queued with Sign is stored without its signature, which a
// worker adds (Options.Sign) just before each POST: RSA signing takes a
// millisecond or more of CPU, too long to spend per notification while
// the publishing transaction holds the database's writer.
//
// # Attempts and outcomes
//
// An attempt is one POST of the stored body (completed by Options.Sign
// for a delivery queued with Sign) with the stored headers
// (Content-Type defaults to SNS's "text/plain; charset=UTF-8" and
// User-Agent to SNS's "Amazon Simple Notification Service Agent" when the
// caller set none), with a timeout of Options.Timeout, 15 seconds by
// default as SNS's. Redirects are not followed. As SNS documents:
//
//   - a 2xx status is a delivery: the row is deleted;
//   - 5xx and 429, a timeout, and any connection or TLS error are failed
//     attempts, retried under the row's Policy;
//   - any other status (1xx, 3xx, 4xx but 429) is a permanent failure,
//     which SNS does not retry: Sesame parks the row at once, where the
//     operator sees it (`sesame events failed`) and may send it again
//     (`sesame events retry`); parking is Sesame's dead-letter queue.
//
// A row whose policy is spent is parked too, with the last status and
// error. Before each attempt Options.Alive is asked whether the row's
// subscription still exists; a row of a deleted subscription is dropped.
//
// # Delivery policy
//
// Policy is SNS's healthyRetryPolicy. Retries go through four phases:
// NumNoDelayRetries at once, NumMinDelayRetries MinDelay apart, the
// backoff phase (the retries left of NumRetries), whose delays go from
// MinDelay to MaxDelay along the Backoff function, and NumMaxDelayRetries
// MaxDelay apart. SNS publishes the backoff functions only as a graph;
// Sesame's reading, for the k-th of n backoff retries with t = k/(n-1)
// (0 for the first, 1 for the last; a lone backoff retry waits MinDelay):
//
//   - linear: MinDelay + (MaxDelay-MinDelay)·t, equal steps (SNS's
//     documented example, 20 s to 40 s over 3 retries: 20, 30, 40);
//   - arithmetic: MinDelay + (MaxDelay-MinDelay)·t², steps growing by
//     equal amounts;
//   - geometric: MinDelay + (MaxDelay-MinDelay)·t³;
//   - exponential: MinDelay·(MaxDelay/MinDelay)^t, each delay a constant
//     multiple of the one before.
//
// Each delay gets ±10% jitter (SNS jitters its retries too), and is
// counted from the end of the failed attempt, so a timed-out attempt is
// retried its delay after the timeout, as SNS documents.
//
// DefaultPolicy, used when a subscription and its topic set no
// DeliveryPolicy (and for a zero Policy), is Sesame's own. SNS's default
// for HTTP — 3 retries 20 seconds apart — gives up on a subscriber that
// is down for a minute, and loses every event of that minute. Sesame's
// default must survive a subscriber down for hours (a deploy gone wrong,
// a night's outage): 100 retries, the first 12 in an exponential backoff
// from 1 second to 10 minutes (1, 1.8, 3.2, 5.7 s ... 10 min; about 23
// minutes in all), then 88 retries 10 minutes apart: about 15 hours, like
// SES's 14-hour retry window for mail. A policy set through the SNS API
// (its DeliveryPolicy attribute) is read, with SNS's bounds, by the SNS
// service (internal/sns), which hands the queue the resulting Policy.
//
// # Isolation
//
// A slow or dead endpoint must not slow the others. Run keeps at most
// Options.Workers requests in flight in all and Options.PerHost to one
// host (host:port of the endpoint URL); a claim takes due rows of hosts
// with room only, at most their room each, oldest first, so a host with a
// thousand due rows and a hung server holds PerHost workers (each for at
// most Timeout) while the others serve every other host. A subscription's
// MaxReceivesPerSecond (SNS's throttlePolicy) spaces its requests; a row
// that would wait longer than its lease allows is handed back, due when
// its turn comes. The bounds and the rate are per node: N nodes sharing
// one PostgreSQL database may have N·PerHost requests in flight to a host.
//
// # Leases and nodes
//
// Workers claim due rows under a lease (PostgreSQL: FOR UPDATE SKIP
// LOCKED; SQLite's writer is exclusive already), so nodes sharing a
// database do not send a row twice in the normal case. An outcome is
// recorded only while the worker still holds the lease; a worker that
// dies leaves its rows to come back when the lease expires, so a request
// in flight at a crash may be sent twice, never zero times — subscribers
// tell retries apart by x-amz-sns-message-id, as with SNS. Outcomes are
// recorded in batches, one transaction for many, so throughput does not
// wait on one commit per notification.
package push
