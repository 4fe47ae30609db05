-- HTTP/HTTPS notification delivery ([5/10], internal/push): one row per
-- notification to POST to one endpoint, written in the transaction that
-- published it. A row is deleted once delivered; a row whose delivery
-- policy is spent, or that the endpoint refused for good, is parked
-- (state 'parked') with its last error until an operator retries it.
-- Workers claim due rows with a lease (lease_owner, lease_until), as the
-- outbound queue's recipients: a crashed worker's rows become due again
-- when the lease expires.
CREATE TABLE push_deliveries (
    id {{AUTOID}},
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    topic_arn TEXT NOT NULL DEFAULT '',
    subscription_arn TEXT NOT NULL DEFAULT '',
    endpoint TEXT NOT NULL,
    -- host is the endpoint's lower-cased host:port, the unit of isolation:
    -- a bounded number of requests to one host are in flight at a time.
    host TEXT NOT NULL,
    header_json TEXT NOT NULL,
    body {{BYTES}} NOT NULL,
    policy_json TEXT NOT NULL,
    state TEXT NOT NULL,
    -- attempts made so far (the first and its retries).
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_status INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX push_deliveries_due ON push_deliveries(state, next_attempt_at);
CREATE INDEX push_deliveries_account ON push_deliveries(account_id, state);
