-- The triggers of 0015_cache_versions.sql, PostgreSQL.
-- The trigger function: TG_ARGV[0] is the counter, TG_ARGV[1] the column
-- holding the account's id.
CREATE FUNCTION sesame_cache_bump() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE acct TEXT; BEGIN IF TG_OP = 'DELETE' THEN acct := to_jsonb(OLD) ->> TG_ARGV[1]; ELSE acct := to_jsonb(NEW) ->> TG_ARGV[1]; END IF; EXECUTE format('INSERT INTO cache_versions AS c (account_id, %1$I) VALUES ($1, 1) ON CONFLICT (account_id) DO UPDATE SET %1$I = c.%1$I + 1', TG_ARGV[0]) USING acct; RETURN NULL; END $$;
CREATE TRIGGER cache_accounts AFTER INSERT OR UPDATE OR DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_account', 'id');
CREATE TRIGGER cache_access_keys AFTER INSERT OR UPDATE OR DELETE ON access_keys FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_account', 'account_id');
CREATE TRIGGER cache_identities AFTER INSERT OR UPDATE OR DELETE ON identities FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_identity', 'account_id');
CREATE TRIGGER cache_configuration_sets AFTER INSERT OR UPDATE OR DELETE ON configuration_sets FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_configset', 'account_id');
CREATE TRIGGER cache_suppressed_destinations AFTER INSERT OR UPDATE OR DELETE ON suppressed_destinations FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_suppression', 'account_id');
