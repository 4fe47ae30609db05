-- Versions of the rows Sesame caches in memory ([7/10] part 4).
--
-- One row per account: a counter per kind of cached thing, bumped by a
-- trigger in the transaction of every insert, update or delete of a row
-- of that kind — whoever writes it (the API, an admin command, the
-- checker, the feedback MX, the reputation guard, another node). A cache
-- entry is used only while its account's counter still has the value it
-- was loaded under, so a committed change is seen by the next request on
-- every node. No row reads all zeros.
--   v_account:     accounts, access_keys (account.Store.Get, Secret)
--   v_identity:    identities (identity.Store.GetMany)
--   v_configset:   configuration_sets (configset.Store.Get)
--   v_suppression: suppressed_destinations (suppression.Store.Suppressed)
-- Suppression has its own counter so that bounces adding addresses do not
-- drop the account's other cached rows.
CREATE TABLE cache_versions (
    account_id TEXT PRIMARY KEY,
    v_account BIGINT NOT NULL DEFAULT 0,
    v_identity BIGINT NOT NULL DEFAULT 0,
    v_configset BIGINT NOT NULL DEFAULT 0,
    v_suppression BIGINT NOT NULL DEFAULT 0
);
