-- SNS-compatible topics ([5/10]): an account's topics, their
-- subscriptions and tags, and the SES identities' notification topics.
--
-- A topic's settable attributes (DisplayName, Policy, DeliveryPolicy,
-- SignatureVersion) are one JSON object; subscriptions_deleted counts the
-- subscriptions unsubscribed since (SubscriptionsDeleted).
CREATE TABLE sns_topics (
    arn TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sns_topics_name ON sns_topics(account_id, name);

-- A subscription is 'pending' (waiting for its confirmation), 'confirmed'
-- (receives messages) or 'deleted' (unsubscribed: kept, so that the
-- SubscribeURL of its UnsubscribeConfirmation can restore it, and counted
-- as SubscriptionsDeleted). token_hash is the SHA-256 (hex) of the latest
-- confirmation token, valid until token_expires; the clear token is only
-- ever in the message that carries it. attributes holds RawMessageDelivery
-- and DeliveryPolicy as a JSON object.
CREATE TABLE sns_subscriptions (
    arn TEXT PRIMARY KEY,
    topic_arn TEXT NOT NULL REFERENCES sns_topics(arn) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    state TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    token_expires BIGINT NOT NULL,
    authenticated {{BOOL}} NOT NULL,
    attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sns_subscriptions_topic ON sns_subscriptions(topic_arn, state);
-- One live subscription per topic, protocol and endpoint (Subscribe is
-- idempotent).
CREATE UNIQUE INDEX sns_subscriptions_endpoint ON sns_subscriptions(topic_arn, protocol, endpoint) WHERE state <> 'deleted';
CREATE INDEX sns_subscriptions_account ON sns_subscriptions(account_id, arn);

CREATE TABLE sns_tags (
    arn TEXT NOT NULL REFERENCES sns_topics(arn) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (arn, tag_key)
);

-- SES v1's identity notification topics (SetIdentityNotificationTopic,
-- SetIdentityHeadersInNotificationsEnabled), per identity and
-- notification type (Bounce, Complaint, Delivery); topic_arn '' when only
-- the headers flag is set. They go with their identity.
CREATE TABLE sns_identity_topics (
    identity_id BIGINT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    notification_type TEXT NOT NULL,
    topic_arn TEXT NOT NULL,
    headers_enabled {{BOOL}} NOT NULL,
    PRIMARY KEY (identity_id, notification_type)
);
