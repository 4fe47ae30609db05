-- Sending ([2/6]): accepted messages, their per-recipient delivery state,
-- and the event outbox. A message, its recipients and its Send event are
-- written in one transaction; each delivery outcome and its event too.

-- One accepted message: the signed bytes as they go out, and what events
-- need to describe it (SES's "mail" object).
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    source_arn TEXT NOT NULL DEFAULT '',
    mail_from TEXT NOT NULL,
    configuration_set TEXT NOT NULL DEFAULT '',
    mail_json TEXT NOT NULL,
    body {{BYTES}} NOT NULL,
    size BIGINT NOT NULL,
    system {{BOOL}} NOT NULL DEFAULT {{FALSE}},
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_account ON messages(account_id, created_at);

-- One recipient of a message and its delivery state. Workers claim due
-- rows with a lease (lease_owner, lease_until): a crashed worker's rows
-- become due again when the lease expires.
CREATE TABLE recipients (
    id {{AUTOID}},
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    domain TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_reply TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX recipients_due ON recipients(state, next_attempt_at);
CREATE INDEX recipients_message ON recipients(message_id);

-- The event outbox: SES-shaped event JSON, written in the transaction of
-- the change that caused it; published_at = 0 until a publisher sends it.
CREATE TABLE events (
    id {{AUTOID}},
    account_id TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    configuration_set TEXT NOT NULL DEFAULT '',
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    published_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX events_unpublished ON events(published_at, id);
CREATE INDEX events_message ON events(message_id);

-- v2 PutAccountDetails: the account's request for production access,
-- kept for the operator (`sesame account list` shows it; `sesame account
-- production` grants it).
CREATE TABLE account_details (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    mail_type TEXT NOT NULL,
    website_url TEXT NOT NULL,
    contact_language TEXT NOT NULL DEFAULT '',
    use_case_description TEXT NOT NULL DEFAULT '',
    additional_contacts TEXT NOT NULL DEFAULT '',
    review_status TEXT NOT NULL DEFAULT '',
    case_id TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- Recipients counted against the daily quota, per account and 5-minute
-- bucket (Unix minutes / 5), added in the transaction that queues each
-- message: SentLast24Hours sums at most 289 rows instead of scanning a
-- day of recipients.
CREATE TABLE send_counts (
    account_id TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    recipients BIGINT NOT NULL,
    PRIMARY KEY (account_id, bucket)
);
