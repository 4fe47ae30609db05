-- Versions of the rows Sesame caches in memory ([7/10] part 4), PostgreSQL.
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

-- The trigger function: TG_ARGV[0] is the counter, TG_ARGV[1] the column
-- holding the account's id.
CREATE FUNCTION sesame_cache_bump() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE acct TEXT; BEGIN IF TG_OP = 'DELETE' THEN acct := to_jsonb(OLD) ->> TG_ARGV[1]; ELSE acct := to_jsonb(NEW) ->> TG_ARGV[1]; END IF; EXECUTE format('INSERT INTO cache_versions AS c (account_id, %1$I) VALUES ($1, 1) ON CONFLICT (account_id) DO UPDATE SET %1$I = c.%1$I + 1', TG_ARGV[0]) USING acct; RETURN NULL; END $$;
CREATE TRIGGER cache_accounts AFTER INSERT OR UPDATE OR DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_account', 'id');
CREATE TRIGGER cache_access_keys AFTER INSERT OR UPDATE OR DELETE ON access_keys FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_account', 'account_id');
CREATE TRIGGER cache_identities AFTER INSERT OR UPDATE OR DELETE ON identities FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_identity', 'account_id');
CREATE TRIGGER cache_configuration_sets AFTER INSERT OR UPDATE OR DELETE ON configuration_sets FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_configset', 'account_id');
CREATE TRIGGER cache_suppressed_destinations AFTER INSERT OR UPDATE OR DELETE ON suppressed_destinations FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_suppression', 'account_id');
