-- The account-level suppression list (SES v2): addresses an account does
-- not send to, and which reasons add addresses to the list automatically.

-- One suppressed address. address_key is the lookup key (the whole
-- address lower-cased, domain in A-labels): SES treats the list
-- case-insensitively. address is the address as it was given, for
-- display. message_id and feedback_id say which message and which
-- bounce or complaint put it there; both are empty for an address added
-- through the API. updated_at is SES's LastUpdateTime.
CREATE TABLE suppressed_destinations (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address_key TEXT NOT NULL,
    address TEXT NOT NULL,
    reason TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    feedback_id TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, address_key)
);
CREATE INDEX suppressed_destinations_updated ON suppressed_destinations(account_id, updated_at);

-- PutAccountSuppressionAttributes: the reasons (comma-separated BOUNCE,
-- COMPLAINT; empty for none) that add an address automatically. An
-- account without a row uses SES's default, both reasons.
CREATE TABLE suppression_attributes (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    reasons TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
