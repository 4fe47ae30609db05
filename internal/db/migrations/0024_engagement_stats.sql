-- Opens and clicks in the sending statistics (BatchGetMetricData OPEN and
-- CLICK).
--
-- send_stats gains two counters: opens and clicks, each the number of
-- distinct messages with at least one Open (Click) event in the UTC day of
-- the event's timestamp, as VDM counts "unique open (click) events"; a
-- message counts under the row of its first recipient (the tracking links
-- are per message, so which recipient opened is unknown). The publisher
-- adds them in its transaction (stats.Store.AddTx), as it adds the other
-- counters.
--
-- engagement_seen remembers which messages already counted an open or a
-- click on a day (kind 'o' or 'c'; day is the day's start, Unix
-- milliseconds), so that a second hit on the same day counts nothing;
-- stats.Store.Prune deletes its old days with the old buckets.
ALTER TABLE send_stats ADD COLUMN opens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE send_stats ADD COLUMN clicks BIGINT NOT NULL DEFAULT 0;
CREATE TABLE engagement_seen (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    day BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (account_id, day, message_id, kind)
);
CREATE INDEX engagement_seen_day ON engagement_seen(day);
