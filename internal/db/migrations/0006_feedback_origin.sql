-- [4/10] Hardening of the feedback MX.
--
-- A report about a recipient is applied once per message, recipient
-- (lower-cased) and kind, whatever its bytes: kind is 'bounce' (a
-- permanent bounce), 'transient' (a transient or undetermined one, which
-- does not block a later permanent bounce), 'complaint' or 'not-spam' (a
-- report that the message was not spam, which does not block a later
-- complaint). Bounces from
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
-- What feedback_reports knew cannot be carried over (a digest names no
-- recipient), but what was applied is partly on the suppression list: an
-- address suppressed for BOUNCE (a permanent bounce) or COMPLAINT, with
-- the id of a message still kept that it was a recipient of, had that
-- report applied for that message. So a report about it arriving after
-- the upgrade is a duplicate. Other reports applied before the upgrade
-- (transient bounces, bounces that suppress nothing, reports of accounts
-- that do not suppress that reason, addresses suppressed again since by
-- another message) are not remembered, and would be applied once more.
INSERT INTO feedback_applied (message_id, recipient, kind, applied_at)
    SELECT DISTINCT r.message_id, LOWER(r.address), CASE s.reason WHEN 'BOUNCE' THEN 'bounce' ELSE 'complaint' END, s.updated_at
    FROM suppressed_destinations s
    JOIN messages m ON m.id = s.message_id AND m.account_id = s.account_id
    JOIN recipients r ON r.message_id = m.id AND LOWER(r.address) = LOWER(s.address)
    WHERE s.reason IN ('BOUNCE', 'COMPLAINT')
    ON CONFLICT DO NOTHING;
-- Forwarded notices about a message, per hour (window_start: the hour's
-- start, Unix milliseconds), so that they can be bounded.
CREATE TABLE feedback_notice_counts (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    window_start BIGINT NOT NULL,
    notices INTEGER NOT NULL,
    PRIMARY KEY (message_id, window_start)
);
-- Every report the feedback MX took, per message it was addressed to,
-- verified or not, for operators (`sesame feedback list/show`): where it
-- came from, what it named, the verdict per recipient (recipients: JSON
-- [{"address","verified","how","reason","temporary"}]), what was done
-- (outcome: applied, duplicate, unverified, ignored) and its first 64 KiB.
-- Forgotten with the message (Prune).
CREATE TABLE feedback_received (
    id {{AUTOID}},
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    remote_ip TEXT NOT NULL,
    helo TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    kind TEXT NOT NULL,
    format TEXT NOT NULL,
    outcome TEXT NOT NULL,
    unverified {{BOOL}} NOT NULL,
    recipients TEXT NOT NULL,
    size BIGINT NOT NULL,
    raw {{BYTES}} NOT NULL
);
CREATE INDEX feedback_received_account ON feedback_received(account_id, received_at);
CREATE INDEX feedback_received_message ON feedback_received(message_id);
