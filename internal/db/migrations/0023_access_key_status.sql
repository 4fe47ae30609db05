-- Access keys can be deactivated and activated again, as IAM's can
-- ([6/10] part 1: "Deactivated or deleted keys stop working at once").
-- inactive_at is when the key was deactivated; NULL: active. A key's
-- secret is looked up only while it is active, so an inactive key signs
-- neither API requests nor SMTP logins; the cache_access_keys triggers
-- bump the account's version on the UPDATE, so every node sees it at the
-- next request.
ALTER TABLE access_keys ADD COLUMN inactive_at BIGINT;
