-- Contact lists, topics, contacts and import jobs ([8/10] part 1).
--
-- contact_lists: one row per list of an account (SES allows one per
-- account; the rule is in Go). topics is a JSON array of
-- {"TopicName","DisplayName","Description","DefaultSubscriptionStatus"};
-- tags a JSON array of {"Key","Value"}.
CREATE TABLE contact_lists (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    topics TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- contacts: one row per address of a list, keyed by the address's
-- case-insensitive key (suppression.Key's rule); address is as given.
-- Deleting the list deletes its contacts.
CREATE TABLE contacts (
    account_id TEXT NOT NULL,
    list_name TEXT NOT NULL,
    address_key TEXT NOT NULL,
    address TEXT NOT NULL,
    unsubscribe_all {{BOOL}} NOT NULL DEFAULT {{FALSE}},
    attributes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, list_name, address_key),
    FOREIGN KEY (account_id, list_name) REFERENCES contact_lists(account_id, name) ON DELETE CASCADE
);

-- contact_topics: a contact's explicit preference for one topic of its
-- list (OPT_IN or OPT_OUT). No row: the topic's default applies.
CREATE TABLE contact_topics (
    account_id TEXT NOT NULL,
    list_name TEXT NOT NULL,
    address_key TEXT NOT NULL,
    topic TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (account_id, list_name, address_key, topic),
    FOREIGN KEY (account_id, list_name, address_key) REFERENCES contacts(account_id, list_name, address_key) ON DELETE CASCADE
);
CREATE INDEX contact_topics_topic ON contact_topics (account_id, list_name, topic, status);

-- import_jobs: CreateImportJob's jobs. status is CREATED, PROCESSING,
-- COMPLETED or FAILED; rows_done is the number of the source's records
-- already applied (committed with them, so a job resumes after a crash
-- where it stopped); lease_until is when the worker holding the job
-- (claimed_by) gives it up if it has not renewed it.
CREATE TABLE import_jobs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    list_name TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    source_url TEXT NOT NULL,
    data_format TEXT NOT NULL,
    status TEXT NOT NULL,
    rows_done BIGINT NOT NULL DEFAULT 0,
    processed BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    failures_url TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    completed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX import_jobs_account ON import_jobs (account_id, created_at, id);
CREATE INDEX import_jobs_pending ON import_jobs (status, lease_until);

-- import_failures: the records a job could not apply, with the reason;
-- written with the batch they were in, and into the failures file when
-- the job completes.
CREATE TABLE import_failures (
    job_id TEXT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    row_number BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (job_id, row_number)
);
