-- Versions of the rows Sesame caches in memory ([7/10] part 4), SQLite.
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
CREATE TRIGGER cache_accounts_insert AFTER INSERT ON accounts FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_account) VALUES (NEW.id, 1) ON CONFLICT (account_id) DO UPDATE SET v_account = v_account + 1; END;
CREATE TRIGGER cache_accounts_update AFTER UPDATE ON accounts FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_account) VALUES (NEW.id, 1) ON CONFLICT (account_id) DO UPDATE SET v_account = v_account + 1; END;
CREATE TRIGGER cache_accounts_delete AFTER DELETE ON accounts FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_account) VALUES (OLD.id, 1) ON CONFLICT (account_id) DO UPDATE SET v_account = v_account + 1; END;
CREATE TRIGGER cache_access_keys_insert AFTER INSERT ON access_keys FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_account) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_account = v_account + 1; END;
CREATE TRIGGER cache_access_keys_update AFTER UPDATE ON access_keys FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_account) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_account = v_account + 1; END;
CREATE TRIGGER cache_access_keys_delete AFTER DELETE ON access_keys FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_account) VALUES (OLD.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_account = v_account + 1; END;
CREATE TRIGGER cache_identities_insert AFTER INSERT ON identities FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_identity) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_identity = v_identity + 1; END;
CREATE TRIGGER cache_identities_update AFTER UPDATE ON identities FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_identity) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_identity = v_identity + 1; END;
CREATE TRIGGER cache_identities_delete AFTER DELETE ON identities FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_identity) VALUES (OLD.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_identity = v_identity + 1; END;
CREATE TRIGGER cache_configuration_sets_insert AFTER INSERT ON configuration_sets FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_configset) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_configset = v_configset + 1; END;
CREATE TRIGGER cache_configuration_sets_update AFTER UPDATE ON configuration_sets FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_configset) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_configset = v_configset + 1; END;
CREATE TRIGGER cache_configuration_sets_delete AFTER DELETE ON configuration_sets FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_configset) VALUES (OLD.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_configset = v_configset + 1; END;
CREATE TRIGGER cache_suppressed_destinations_insert AFTER INSERT ON suppressed_destinations FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_suppression) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_suppression = v_suppression + 1; END;
CREATE TRIGGER cache_suppressed_destinations_update AFTER UPDATE ON suppressed_destinations FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_suppression) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_suppression = v_suppression + 1; END;
CREATE TRIGGER cache_suppressed_destinations_delete AFTER DELETE ON suppressed_destinations FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_suppression) VALUES (OLD.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_suppression = v_suppression + 1; END;
