-- [4/10] Hardening of the feedback MX.
--
-- A report about a recipient is applied once per message, recipient
-- (lower-cased) and kind, whatever its bytes: kind is 'bounce' (a
-- permanent bounce), 'transient' (a transient or undetermined one, which
-- does not block a later permanent bounce) or 'complaint'. Bounces from
-- delivery take the same keys. This replaces feedback_reports (once per
-- SHA-256 of the bytes, which a report differing by one byte passed).
DROP TABLE feedback_reports;
CREATE TABLE feedback_applied (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, recipient, kind)
);
-- Forwarded notices about a message, per hour (window_start: the hour's
-- start, Unix milliseconds), so that they can be bounded.
CREATE TABLE feedback_notice_counts (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    window_start BIGINT NOT NULL,
    notices INTEGER NOT NULL,
    PRIMARY KEY (message_id, window_start)
);
