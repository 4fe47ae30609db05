-- The feedback MX ([3/6]): each report received, by message and SHA-256
-- of its bytes, so that a report sent again (a sender retrying after a
-- lost reply, or a replay) is not applied twice.
CREATE TABLE feedback_reports (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, digest)
);
