-- The web console's sessions ([9/10] part 2).
--
-- One row per signed-in browser. id_hash is the SHA-256 (hex) of the
-- session cookie's random value, so the table never holds a usable
-- cookie. A session signed in with an access key keeps its key id: it
-- ends when that key is removed. An operator's session (admin) signed in
-- with the admin token has no key and picks its account_id ('' until it
-- has picked one). csrf is the token every form of the session carries.
-- Times are Unix milliseconds; a row past expires_at is dead and is
-- deleted at the next sign-in.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL DEFAULT '',
    access_key_id TEXT NOT NULL DEFAULT '',
    admin {{BOOL}} NOT NULL DEFAULT {{FALSE}},
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
