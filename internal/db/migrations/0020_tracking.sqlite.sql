-- The triggers of 0020_tracking.sql, SQLite: a set's event destinations
-- decide whether mail through it is tracked (configset.Set.Tracks), which
-- Get caches under v_configset, so changing them bumps that counter.
CREATE TRIGGER cache_event_destinations_insert AFTER INSERT ON event_destinations FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_configset) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_configset = v_configset + 1; END;
CREATE TRIGGER cache_event_destinations_update AFTER UPDATE ON event_destinations FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_configset) VALUES (NEW.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_configset = v_configset + 1; END;
CREATE TRIGGER cache_event_destinations_delete AFTER DELETE ON event_destinations FOR EACH ROW BEGIN INSERT INTO cache_versions (account_id, v_configset) VALUES (OLD.account_id, 1) ON CONFLICT (account_id) DO UPDATE SET v_configset = v_configset + 1; END;
