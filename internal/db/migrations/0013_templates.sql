-- Email templates ([6/10]): one row per template of an account, shared by
-- the v1 (CreateTemplate) and v2 (CreateEmailTemplate) APIs as in SES.
-- The three parts are stored as given ('' for an absent part). tags is a
-- JSON array of {"Key","Value"} objects (v2 Tags).
CREATE TABLE templates (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    subject_part TEXT NOT NULL DEFAULT '',
    text_part TEXT NOT NULL DEFAULT '',
    html_part TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);
