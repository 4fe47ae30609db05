-- Accounts are tenants: they own access keys, identities and quotas.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL DEFAULT '',
    sandbox {{BOOL}} NOT NULL DEFAULT {{TRUE}},
    sending_enabled {{BOOL}} NOT NULL DEFAULT {{TRUE}},
    max_24h_send {{DOUBLE}} NOT NULL DEFAULT 200,
    max_send_rate {{DOUBLE}} NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

-- Access keys sign API requests (SigV4). The secret is sealed (encrypted).
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    secret_sealed {{BYTES}} NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX access_keys_account ON access_keys(account_id);

-- Identities: domains and email addresses, with their verification,
-- DKIM and custom MAIL FROM state. Statuses use SES v1 spelling
-- (Pending, Success, Failed, TemporaryFailure, NotStarted).
CREATE TABLE identities (
    id {{AUTOID}},
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    domain TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    verification_status TEXT NOT NULL,
    verification_token TEXT NOT NULL,
    verification_since BIGINT NOT NULL,
    verification_error TEXT NOT NULL DEFAULT '',
    last_checked_at BIGINT NOT NULL DEFAULT 0,
    last_success_at BIGINT NOT NULL DEFAULT 0,
    dkim_origin TEXT NOT NULL DEFAULT '',
    dkim_signing_enabled {{BOOL}} NOT NULL DEFAULT {{TRUE}},
    dkim_status TEXT NOT NULL DEFAULT 'NotStarted',
    dkim_since BIGINT NOT NULL DEFAULT 0,
    dkim_tokens TEXT NOT NULL DEFAULT '',
    dkim_key_length TEXT NOT NULL DEFAULT '',
    dkim_next_key_length TEXT NOT NULL DEFAULT '',
    dkim_key_generated_at BIGINT NOT NULL DEFAULT 0,
    dkim_diagnostic TEXT NOT NULL DEFAULT '',
    dkim_ed25519_published {{BOOL}} NOT NULL DEFAULT {{FALSE}},
    mail_from_domain TEXT NOT NULL DEFAULT '',
    mail_from_behavior TEXT NOT NULL DEFAULT 'UseDefaultValue',
    mail_from_status TEXT NOT NULL DEFAULT '',
    mail_from_since BIGINT NOT NULL DEFAULT 0,
    mail_from_diagnostic TEXT NOT NULL DEFAULT '',
    feedback_forwarding {{BOOL}} NOT NULL DEFAULT {{TRUE}},
    configuration_set TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    next_check_at BIGINT,
    UNIQUE (account_id, name)
);
CREATE INDEX identities_due ON identities(next_check_at);
CREATE INDEX identities_token ON identities(verification_token);

-- DKIM keys. Easy DKIM keys are published in Sesame's own zone under
-- <selector>.dkim.<service domain>; BYODKIM keys are published by the
-- customer. The private key is sealed (encrypted) with the key from
-- configuration.
CREATE TABLE dkim_keys (
    id {{AUTOID}},
    identity_id BIGINT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    selector TEXT NOT NULL,
    origin TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    bits INTEGER NOT NULL,
    private_sealed {{BYTES}} NOT NULL,
    public_record TEXT NOT NULL,
    published {{BOOL}} NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dkim_keys_identity ON dkim_keys(identity_id);
CREATE UNIQUE INDEX dkim_keys_published ON dkim_keys(selector) WHERE published;

-- Every status transition of an identity, with its time and reason. Rows
-- with notified_at = 0 are the notifications still to be mailed to the
-- account owner.
CREATE TABLE identity_transitions (
    id {{AUTOID}},
    identity_id BIGINT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    attribute TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL,
    notified_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX identity_transitions_identity ON identity_transitions(identity_id, id);
CREATE INDEX identity_transitions_unnotified ON identity_transitions(notified_at);

-- Messages Sesame itself must send (address verification mails), kept
-- until the sending pipeline sends them.
CREATE TABLE pending_mail (
    id {{AUTOID}},
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    identity_id BIGINT REFERENCES identities(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pending_mail_unsent ON pending_mail(sent_at);

-- Cluster-wide leases for loops that must run on one node at a time.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Deployment settings written by `sesame serve` (region, service domain),
-- so the admin commands show the records the running server expects.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
