-- Configuration sets and their event destinations ([5/10]).
--
-- One configuration set of an account. The options are SES v2's:
-- SendingOptions.SendingEnabled, ReputationOptions
-- (ReputationMetricsEnabled, LastFreshStart in Unix ms, 0 for never),
-- DeliveryOptions (tls_policy '' when never set, else REQUIRE or
-- OPTIONAL; max_delivery_seconds 0 for the deployment's window) and
-- SuppressionOptions.SuppressedReasons: NULL when the set has no
-- SuppressionOptions (the account's list applies as it is), else the
-- comma-separated reasons ('' for none). tags is a JSON array of
-- {"Key","Value"} objects.
CREATE TABLE configuration_sets (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sending_enabled {{BOOL}} NOT NULL DEFAULT {{TRUE}},
    reputation_metrics_enabled {{BOOL}} NOT NULL DEFAULT {{FALSE}},
    last_fresh_start BIGINT NOT NULL DEFAULT 0,
    tls_policy TEXT NOT NULL DEFAULT '',
    max_delivery_seconds BIGINT NOT NULL DEFAULT 0,
    suppressed_reasons TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- One event destination of a set. matching_event_types is the
-- comma-separated v2 enum names (SEND, BOUNCE, ...). Exactly one kind:
-- sns_topic_arn non-empty for an SNS destination, cloudwatch (a JSON array
-- of {"Name","Source","Default"} dimensions) non-NULL for a CloudWatch
-- destination. Rows go with their set and with the account.
CREATE TABLE event_destinations (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    configuration_set TEXT NOT NULL,
    name TEXT NOT NULL,
    enabled {{BOOL}} NOT NULL,
    matching_event_types TEXT NOT NULL,
    sns_topic_arn TEXT NOT NULL DEFAULT '',
    cloudwatch TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, configuration_set, name),
    FOREIGN KEY (account_id, configuration_set) REFERENCES configuration_sets(account_id, name) ON DELETE CASCADE
);

-- identities.configuration_set (the identity's default set, '' for none)
-- exists since 0001; sends look it up with the identity itself.
