package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// aliveRetry is how long a row waits when Alive could not answer.
const aliveRetry = 10 * time.Second

// recordBatch bounds the outcomes recorded in one transaction.
const recordBatch = 256

// claimed is a row a worker holds under a lease.
type claimed struct {
	id         int64
	accountID  string
	topicARN   string
	sub        string
	endpoint   string
	host       string
	header     http.Header
	body       []byte
	sign       bool // the body goes through Options.Sign before each POST
	policy     Policy
	attempts   int // made before this claim
	leaseUntil int64
}

// outcome is what became of a claimed row.
type outcome struct {
	row    claimed
	kind   int
	status int
	err    string
	next   time.Time // handBack: due again then
}

// The kinds of outcome.
const (
	delivered = iota // 2xx: delete
	dropped          // the subscription is gone: delete
	failed           // retry under the policy, or park when it is spent
	permanent        // park at once
	handBack         // no attempt made: release, due at next
)

// claimCoalesce is how long Run waits, once a request has finished and
// freed room, before it claims again: long enough for others to finish
// too, short beside a notification's latency.
const claimCoalesce = 10 * time.Millisecond

// Run delivers due notifications until ctx ends, then waits for the
// requests in flight (cut short by ctx: their rows are handed back) and
// returns nil. Errors are logged, never fatal.
func (q *Queue) Run(ctx context.Context) error {
	results := make(chan outcome, q.workers)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		q.recorder(results)
	}()
	freed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	timer := time.NewTimer(q.poll)
	defer timer.Stop()
	for {
		n, limited := 0, false
		if free, room, acctRoom := q.room(); free > 0 {
			rows, err := q.claim(ctx, free, room, acctRoom)
			if err != nil && ctx.Err() == nil {
				q.log.Error("claiming due notifications failed", "err", err)
			}
			n = len(rows)
			limited = n == free
			for _, m := range []map[string]int{room, acctRoom} {
				for _, r := range m {
					if r == 0 {
						limited = true // a busy host (account) may have more due
					}
				}
			}
			took, tookAcct := map[string]int{}, map[string]int{}
			for _, r := range rows {
				// A host (an account) that got all the room the claim
				// allowed it may have more due (judged by the claim's own
				// snapshot: attempts finishing meanwhile must not hide it,
				// or the loop would sleep a whole poll with rows due).
				hostAll := tookAll(took, room, r.host, q.perHost)
				acctAll := tookAll(tookAcct, acctRoom, r.accountID, q.perAcct)
				limited = limited || hostAll || acctAll
				q.mu.Lock()
				q.busy++
				q.hosts[r.host]++
				q.accts[r.accountID]++
				q.mu.Unlock()
				wg.Go(func() {
					results <- q.attempt(ctx, r)
					q.mu.Lock()
					q.busy--
					if q.hosts[r.host]--; q.hosts[r.host] == 0 {
						delete(q.hosts, r.host)
					}
					if q.accts[r.accountID]--; q.accts[r.accountID] == 0 {
						delete(q.accts, r.accountID)
					}
					q.mu.Unlock()
					select {
					case freed <- struct{}{}:
					default:
					}
				})
			}
		}
		if ctx.Err() != nil {
			break
		}
		q.mu.Lock()
		full := q.busy >= q.workers
		q.mu.Unlock()
		var onFree chan struct{}
		if limited || full {
			onFree = freed
		}
		if n > 0 && limited && !full {
			continue // more may be due for hosts with room
		}
		timer.Reset(q.poll)
		select {
		case <-ctx.Done():
		case <-q.wake:
		case <-onFree:
			// Let more requests finish before the next claim: each claim
			// is a write transaction, and one per finished request would
			// cost a commit per notification under load.
			coalesce := time.NewTimer(claimCoalesce)
			select {
			case <-ctx.Done():
			case <-coalesce.C:
			}
			coalesce.Stop()
		case <-timer.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	close(results)
	<-recorded
	return nil
}

// RunOnce claims the due rows it has room for, attempts them all,
// records the outcomes, and returns how many it claimed (for tests and
// tools).
func (q *Queue) RunOnce(ctx context.Context) (int, error) {
	free, room, acctRoom := q.room()
	rows, err := q.claim(ctx, free, room, acctRoom)
	if err != nil {
		return 0, err
	}
	outs := make([]outcome, len(rows))
	var wg sync.WaitGroup
	for i, r := range rows {
		wg.Go(func() { outs[i] = q.attempt(ctx, r) })
	}
	wg.Wait()
	q.record(context.WithoutCancel(ctx), outs)
	return len(rows), nil
}

// tookAll counts one more claimed row of group g in took and says whether
// the group has now taken all its room (room[g], else def).
func tookAll(took, room map[string]int, g string, def int) bool {
	took[g]++
	limit, ok := room[g]
	if !ok {
		limit = def
	}
	return took[g] >= limit
}

// room is how many requests may start now in all, and how many to each
// host and for each account that has some in flight.
func (q *Queue) room() (int, map[string]int, map[string]int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	room := make(map[string]int, len(q.hosts))
	for h, n := range q.hosts {
		room[h] = max(q.perHost-n, 0)
	}
	acctRoom := make(map[string]int, len(q.accts))
	for a, n := range q.accts {
		acctRoom[a] = max(q.perAcct-n, 0)
	}
	return max(q.workers-q.busy, 0), room, acctRoom
}

// caps is the SQL of how many of a group's due rows may be taken (a CASE
// over column, the room of each group with requests in flight, else def)
// and the condition leaving out the groups without room, with their
// arguments.
func caps(column string, room map[string]int, def int) (capSQL string, capArgs []any, full string, fullArgs []any) {
	capSQL = `CAST(? AS INTEGER)`
	var when string
	for g, n := range room {
		if n == 0 {
			fullArgs = append(fullArgs, g)
			continue
		}
		when += ` WHEN ? THEN CAST(? AS INTEGER)`
		capArgs = append(capArgs, g, n)
	}
	if when != "" {
		capSQL = `CASE ` + column + when + ` ELSE CAST(? AS INTEGER) END`
	}
	if len(fullArgs) > 0 {
		full = ` AND ` + column + ` NOT IN (?` + strings.Repeat(`, ?`, len(fullArgs)-1) + `)`
	}
	return capSQL, append(capArgs, def), full, fullArgs
}

// claim takes up to limit due rows, oldest first, at most room[host] of
// a host that has requests in flight and PerHost of any other, and at
// most acctRoom[account] of an account that has requests in flight and
// PerAccount of any other, under a lease for this worker.
func (q *Queue) claim(ctx context.Context, limit int, room, acctRoom map[string]int) ([]claimed, error) {
	if limit < 1 {
		return nil, nil
	}
	now := q.now()
	until := db.Millis(now.Add(q.lease))
	// How many of a host's (an account's) due rows may be taken: its
	// room, or PerHost (PerAccount). Hosts and accounts without room are
	// left out before the rows are ranked.
	capSQL, capArgs, full, fullArgs := caps("host", room, q.perHost)
	acctCapSQL, acctCapArgs, acctFull, acctFullArgs := caps("account_id", acctRoom, q.perAcct)
	full += acctFull
	fullArgs = append(fullArgs, acctFullArgs...)
	var out []claimed
	err := q.db.InTx(ctx, func(tx *db.Tx) error {
		// Rank each host's due rows among the oldest few (the window),
		// so that one host's backlog cannot fill a claim and the ranking
		// stays cheap however long the queue; the outer select locks
		// (PostgreSQL) and re-checks the row, which another node may have
		// claimed meanwhile. A host whose backlog fills the window gets
		// its room's worth; in the next claim it has none, and is left
		// out.
		due := `state = ? AND next_attempt_at <= ? AND lease_until <= ?`
		pick := `SELECT id FROM push_deliveries WHERE ` + due + ` AND id IN (
			SELECT id FROM (SELECT id, host, account_id,
					ROW_NUMBER() OVER (PARTITION BY host ORDER BY next_attempt_at, id) AS rn,
					ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY next_attempt_at, id) AS arn
				FROM (SELECT id, host, account_id, next_attempt_at FROM push_deliveries WHERE ` + due + full + ` ORDER BY next_attempt_at, id LIMIT ?) w
			) ranked WHERE rn <= ` + capSQL + ` AND arn <= ` + acctCapSQL + `)
			ORDER BY next_attempt_at, id LIMIT ?`
		if tx.Dialect() == db.Postgres {
			pick += ` FOR UPDATE SKIP LOCKED`
		}
		args := []any{q.owner, until, db.Millis(now)}
		dueArgs := []any{statePending, db.Millis(now), db.Millis(now)}
		args = append(args, dueArgs...)
		args = append(args, dueArgs...)
		args = append(args, fullArgs...)
		args = append(args, 4*q.workers)
		args = append(args, capArgs...)
		args = append(args, acctCapArgs...)
		args = append(args, limit)
		rows, err := tx.Query(ctx, `UPDATE push_deliveries SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE id IN (`+pick+`)
			RETURNING id, account_id, topic_arn, subscription_arn, endpoint, host, header_json, body, policy_json, attempts, next_attempt_at`, args...)
		if err != nil {
			return fmt.Errorf("push: claim: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c := claimed{leaseUntil: until}
			var hj, pj string
			var next int64
			if err := rows.Scan(&c.id, &c.accountID, &c.topicARN, &c.sub, &c.endpoint, &c.host, &hj, &c.body, &pj, &c.attempts, &next); err != nil {
				return fmt.Errorf("push: claim: %w", err)
			}
			if err := json.Unmarshal([]byte(hj), &c.header); err != nil {
				return fmt.Errorf("push: headers of %d: %w", c.id, err)
			}
			if _, ok := c.header[signMark]; ok {
				c.sign = true
				delete(c.header, signMark)
			}
			if c.policy, err = decodePolicy(pj); err != nil {
				return fmt.Errorf("push: policy of %d: %w", c.id, err)
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order; oldest first for the callers.
	sortClaimed(out)
	return out, nil
}

func sortClaimed(cs []claimed) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].id < cs[j-1].id; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// attempt makes one delivery attempt of r and says what became of it.
// A panic is logged and the row handed back.
func (q *Queue) attempt(ctx context.Context, r claimed) (o outcome) {
	o = outcome{row: r, kind: handBack, next: q.now()}
	defer func() {
		if v := recover(); v != nil {
			q.log.Error("panic while pushing a notification", "id", r.id, "panic", v, "stack", string(debug.Stack()))
			o = outcome{row: r, kind: handBack, next: q.now().Add(aliveRetry)}
		}
	}()
	if r.sub != "" && q.alive != nil {
		ok, err := q.alive(ctx, r.sub)
		switch {
		case ctx.Err() != nil:
			return o
		case err != nil:
			q.log.Warn("could not tell whether a subscription still exists; trying later", "subscription", r.sub, "err", err)
			o.next = q.now().Add(aliveRetry)
			return o
		case !ok:
			q.log.Info("dropped a notification of a deleted subscription", "id", r.id, "subscription", r.sub)
			return outcome{row: r, kind: dropped}
		}
	}
	if rate := r.policy.MaxReceivesPerSecond; rate > 0 {
		key := r.sub
		if key == "" {
			key = r.endpoint
		}
		wait := q.reserve(key, rate)
		// The request must end before the lease does, with room to record.
		if spare := q.lease - q.timeout - q.lease/10; wait > spare {
			q.unreserve(key, rate)
			o.next = q.now().Add(wait)
			return o
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return o
			case <-t.C:
			}
		}
	}
	status, err := q.post(ctx, r)
	switch {
	case ctx.Err() != nil:
		return o // cut short by shutdown: not an attempt
	case err != nil:
		return outcome{row: r, kind: failed, err: err.Error()}
	case status >= 200 && status <= 299:
		return outcome{row: r, kind: delivered, status: status}
	case status >= 500 || status == http.StatusTooManyRequests || status == 100 || status == 101:
		return outcome{row: r, kind: failed, status: status, err: fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))}
	default:
		return outcome{row: r, kind: permanent, status: status, err: fmt.Sprintf("HTTP %d %s: SNS does not retry this status", status, http.StatusText(status))}
	}
}

// post sends r and returns the response's status.
func (q *Queue) post(ctx context.Context, r claimed) (int, error) {
	body := r.body
	if r.sign {
		if q.sign == nil {
			return 0, errors.New("this node cannot sign the notification (no Options.Sign)")
		}
		var err error
		if body, err = q.sign(body); err != nil {
			q.log.Error("signing a notification failed", "id", r.id, "err", err)
			return 0, fmt.Errorf("sign: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New(scrub(err.Error(), r.endpoint))
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "Amazon Simple Notification Service Agent")
	}
	resp, err := q.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no response within %s", q.timeout)
		}
		return 0, errors.New(scrub(err.Error(), r.endpoint))
	}
	// Read a little of the body so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// scrub removes the endpoint's credentials from an error text (Go's
// url.Error quotes the URL).
func scrub(s, endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.User == nil {
		return s
	}
	s = strings.ReplaceAll(s, endpoint, u.Redacted())
	if p, ok := u.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}

// reserve takes the next slot of key's rate and says how long to wait for
// it (real time).
func (q *Queue) reserve(key string, perSecond int) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	at := q.rate[key]
	if at.Before(now) {
		at = now
	}
	q.rate[key] = at.Add(time.Second / time.Duration(perSecond))
	if len(q.rate) > 10000 { // forget idle keys
		for k, t := range q.rate {
			if t.Before(now) {
				delete(q.rate, k)
			}
		}
	}
	return at.Sub(now)
}

// unreserve gives back the slot reserve took last.
func (q *Queue) unreserve(key string, perSecond int) {
	q.mu.Lock()
	q.rate[key] = q.rate[key].Add(-time.Second / time.Duration(perSecond))
	q.mu.Unlock()
}

// recorder records outcomes from results in batches until results is
// closed.
func (q *Queue) recorder(results <-chan outcome) {
	for o := range results {
		batch := []outcome{o}
	more:
		for len(batch) < recordBatch {
			select {
			case o, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		q.record(context.Background(), batch)
	}
}

// record writes outcomes in one transaction, each only if this worker
// still holds the row's lease.
func (q *Queue) record(ctx context.Context, outs []outcome) {
	if len(outs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := q.now()
	due := false
	var lost []int64
	var retrying []outcome
	err := q.db.InTx(ctx, func(tx *db.Tx) error {
		lost = lost[:0]
		retrying = retrying[:0]
		due = false
		for _, o := range outs {
			r := o.row
			lease := []any{r.id, q.owner, r.leaseUntil}
			var res interface{ RowsAffected() (int64, error) }
			var err error
			switch o.kind {
			case delivered, dropped:
				res, err = tx.Exec(ctx, `DELETE FROM push_deliveries WHERE id = ? AND lease_owner = ? AND lease_until = ?`, lease...)
			case handBack:
				res, err = tx.Exec(ctx, `UPDATE push_deliveries SET lease_owner = '', lease_until = 0, next_attempt_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND lease_until = ?`,
					append([]any{db.Millis(o.next), db.Millis(now)}, lease...)...)
				due = due || !o.next.After(now)
			default:
				attempts := r.attempts + 1
				state, next := stateParked, now
				if o.kind == failed && attempts <= r.policy.NumRetries {
					state, next = statePending, now.Add(q.jitter(r.policy.Delay(attempts)))
					due = due || !next.After(now)
				}
				res, err = tx.Exec(ctx, `UPDATE push_deliveries SET state = ?, attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ?, lease_owner = '', lease_until = 0, updated_at = ?
					WHERE id = ? AND lease_owner = ? AND lease_until = ?`,
					append([]any{state, attempts, db.Millis(next), o.status, truncate(o.err, 1000), db.Millis(now)}, lease...)...)
				if err == nil && state == stateParked {
					q.log.Warn("parked a notification", "id", r.id, "account", r.accountID, "endpoint", redact(r.endpoint), "attempts", attempts, "status", o.status, "err", o.err)
				}
				if state == statePending {
					o.row.attempts, o.next = attempts, next
					retrying = append(retrying, o)
				}
			}
			if err != nil {
				return fmt.Errorf("push: record outcome of %d: %w", r.id, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				lost = append(lost, r.id)
			}
		}
		return nil
	})
	if err != nil {
		// The rows come back when their leases expire.
		q.log.Error("recording notification outcomes failed", "n", len(outs), "err", err)
		return
	}
	if len(lost) > 0 {
		q.log.Warn("lease lost before an outcome was recorded: another worker holds these notifications now", "ids", lost)
	}
	q.logRetrying(now, retrying)
	if due {
		q.Kick()
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// failedLogEvery is how often failed attempts to one host are logged: an
// endpoint that is down (or whose certificate Sesame does not trust) shows
// in the log within a minute, not only when its notifications are parked
// hours later, and a backlog to it does not flood the log.
const failedLogEvery = time.Minute

// logRetrying logs the first of outs (attempts that failed and will be
// retried) for each host not logged within failedLogEvery.
func (q *Queue) logRetrying(now time.Time, outs []outcome) {
	if len(outs) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.warned) > 10000 {
		for h, at := range q.warned {
			if now.Sub(at) >= failedLogEvery {
				delete(q.warned, h)
			}
		}
	}
	for _, o := range outs {
		r := o.row
		if at, ok := q.warned[r.host]; ok && now.Sub(at) < failedLogEvery {
			continue
		}
		q.warned[r.host] = now
		q.log.Warn("a notification could not be delivered; retrying (failures to this host are logged once a minute)",
			"id", r.id, "account", r.accountID, "endpoint", redact(r.endpoint), "attempts", r.attempts,
			"next_attempt", o.next.UTC().Format(time.RFC3339), "status", o.status, "err", o.err)
	}
}
