-- Reputation guardrails ([5/10] part 7).
--
-- One row per account the guard has evaluated: its enforcement status
-- (HEALTHY, PROBATION or SHUTDOWN; no row reads HEALTHY), since when, and
-- the rates of the last evaluation. count_from is set when an operator
-- reinstates the account: only events from then on count, so the data
-- that shut it down does not shut it down again at once.
CREATE TABLE reputation_accounts (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    since BIGINT NOT NULL,
    count_from BIGINT NOT NULL DEFAULT 0,
    sends BIGINT NOT NULL DEFAULT 0,
    bounce_rate {{DOUBLE}} NOT NULL DEFAULT 0,
    complaint_rate {{DOUBLE}} NOT NULL DEFAULT 0,
    evaluated_at BIGINT NOT NULL DEFAULT 0
);

-- One row per configuration set with an operator's threshold or a guard
-- evaluation. A threshold of 0 is none (the deployment's default applies
-- to sets with ReputationMetricsEnabled). paused_at is when the guard
-- last paused the set, resumed_at when a pause of the guard's was lifted
-- (0: never); only events after both count, so a resumed set is not
-- paused again at once for the same data. Sets are named, not referenced:
-- a deleted set's row is removed by the guard (Forget) and is harmless
-- until then.
CREATE TABLE reputation_sets (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    set_name TEXT NOT NULL,
    bounce_threshold {{DOUBLE}} NOT NULL DEFAULT 0,
    complaint_threshold {{DOUBLE}} NOT NULL DEFAULT 0,
    paused_at BIGINT NOT NULL DEFAULT 0,
    resumed_at BIGINT NOT NULL DEFAULT 0,
    sends BIGINT NOT NULL DEFAULT 0,
    bounce_rate {{DOUBLE}} NOT NULL DEFAULT 0,
    complaint_rate {{DOUBLE}} NOT NULL DEFAULT 0,
    evaluated_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, set_name)
);
