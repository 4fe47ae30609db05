-- Identity hardening ([4/10]).
--
-- Verification mails sent, per account and lower-cased address: the
-- resend cooldown and the daily cap of verification mail read them. Rows
-- are not tied to an identity, so deleting and re-adding an address does
-- not reset either limit; rows older than a day are deleted as new ones
-- are written. It starts empty: the mails in pending_mail carry links
-- this upgrade kills (below), and their owners are told to ask again, so
-- they must not count against that.
CREATE TABLE verification_mails (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    sent_at BIGINT NOT NULL
);
CREATE INDEX verification_mails_account ON verification_mails(account_id, sent_at);
CREATE INDEX verification_mails_recipient ON verification_mails(account_id, recipient, sent_at);

-- Verified domains are looked up by name across accounts (who owns the
-- domain a custom MAIL FROM domain lies under).
CREATE INDEX identities_name ON identities(name);

-- Address verification links' secrets are stored as their SHA-256 only.
-- The clear secrets stored so far cannot be hashed in SQL on both stores,
-- so they are dropped: a pending address verification fails with a
-- reason saying why (the owner asks for a new mail), and the links of
-- addresses verified or failed already stop working (they had nothing
-- left to do).
INSERT INTO identity_transitions (identity_id, account_id, identity, attribute, from_status, to_status, reason, at)
    SELECT id, account_id, name, 'Verification', verification_status, 'Failed',
        'the verification link was invalidated by an upgrade: Sesame now stores only a hash of the link''s secret; ask for a new verification email (VerifyEmailIdentity or CreateEmailIdentity)',
        {{NOW_MS}}
    FROM identities WHERE kind = 'EmailAddress' AND verification_status = 'Pending';
UPDATE identities SET verification_status = 'Failed', verification_since = {{NOW_MS}}, version = version + 1
    WHERE kind = 'EmailAddress' AND verification_status = 'Pending';
UPDATE identities SET verification_token = '' WHERE kind = 'EmailAddress';

-- Verification mail is now queued in the transaction that issues its
-- link, so the outbox of mail still to send is no longer needed; its
-- bodies held clear link secrets.
DROP TABLE pending_mail;
