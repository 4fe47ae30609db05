-- Sending statistics ([5/10] part 5): what v1 GetSendStatistics, v2
-- BatchGetMetricData and the reputation guardrails read.
--
-- One row per account, 15-minute bucket (its start, Unix milliseconds),
-- sending identity (the identity of mail.sourceArn, '' if none),
-- configuration set ('' for none), recipient's mailbox provider (ISP, from
-- the recipient domain's MX hosts) and mailbox-simulator flag. Counts are
-- per recipient, as SES counts: sends, deliveries, permanent and transient
-- bounces, complaints, rejects and delivery delays. The publisher adds a
-- batch of events in its transaction (stats.Store.AddTx), one upsert per
-- distinct key.
CREATE TABLE send_stats (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    bucket BIGINT NOT NULL,
    identity TEXT NOT NULL,
    configuration_set TEXT NOT NULL,
    isp TEXT NOT NULL,
    simulator {{BOOL}} NOT NULL,
    sends BIGINT NOT NULL DEFAULT 0,
    deliveries BIGINT NOT NULL DEFAULT 0,
    permanent_bounces BIGINT NOT NULL DEFAULT 0,
    transient_bounces BIGINT NOT NULL DEFAULT 0,
    complaints BIGINT NOT NULL DEFAULT 0,
    rejects BIGINT NOT NULL DEFAULT 0,
    delivery_delays BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, bucket, identity, configuration_set, isp, simulator)
);
-- Totals and metric queries per configuration set over a time range (the
-- primary key serves the account-wide ones).
CREATE INDEX send_stats_set ON send_stats(account_id, configuration_set, bucket);
