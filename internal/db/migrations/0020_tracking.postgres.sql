-- The triggers of 0020_tracking.sql, PostgreSQL: a set's event
-- destinations decide whether mail through it is tracked
-- (configset.Set.Tracks), which Get caches under v_configset, so changing
-- them bumps that counter.
CREATE TRIGGER cache_event_destinations AFTER INSERT OR UPDATE OR DELETE ON event_destinations FOR EACH ROW EXECUTE FUNCTION sesame_cache_bump('v_configset', 'account_id');
