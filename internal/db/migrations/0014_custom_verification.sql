-- Custom verification emails ([6/10] part 5).
--
-- custom_verification_templates: an account's custom verification email
-- templates (v1 and v2 share them, as in SES; at most 50 per account).
-- tags is the v2 Tags as JSON ([] when none).
CREATE TABLE custom_verification_templates (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    from_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    content TEXT NOT NULL,
    success_url TEXT NOT NULL,
    failure_url TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- custom_verification_links: one row per verification link a
-- SendCustomVerificationEmail mailed. token_hash is the SHA-256 of the
-- link's secret (the secret itself is only in the mail). The redirect URLs
-- are the template's when the mail was sent, so later edits of the
-- template (or its deletion) do not change where a mailed link leads.
-- As in SES, no identity exists until the link is followed; confirmed_at
-- is when it first was (0: not yet). Rows are pruned a while after their
-- link expired.
CREATE TABLE custom_verification_links (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    template TEXT NOT NULL,
    success_url TEXT NOT NULL,
    failure_url TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX custom_verification_links_created ON custom_verification_links (created_at);
