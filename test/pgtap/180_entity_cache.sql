-- The entity cache across rebuilds: a tree is kept (with its prepared plans) through the
-- rebuild that follows its last use, so that it can be the same object again, and let go
-- at the next one when its root was not resolved in between (an entity no longer used, or
-- dropped): the old trees never pile up.
BEGIN;
SELECT plan(5);

SELECT nomnom.define_entity('{"name": "CacheA", "table": "cache_a", "fields": [{"name": "a", "type": "text"}]}');
SELECT nomnom.define_entity('{"name": "CacheB", "table": "cache_b", "fields": [{"name": "b", "type": "text"}]}');

-- This backend's kept plans that write `tbl` (a plan's memory context names its query).
CREATE FUNCTION pg_temp.plans_for(tbl text) RETURNS int LANGUAGE sql AS $$
  SELECT count(*)::int FROM pg_backend_memory_contexts
  WHERE name = 'CachedPlanSource' AND ident LIKE '%' || tbl || '%'
$$;

SELECT nomnom.ingest('CacheA', '{"a": "x"}');
SELECT ok(pg_temp.plans_for('cache_a') > 0, 'writing CacheA prepared its plans');

-- A rebuild (defining another entity marks the cache stale) that resolves CacheB only:
-- CacheA's tree is kept, it may be resolved again the same.
SELECT nomnom.define_entity('{"name": "CacheC", "table": "cache_c", "fields": [{"name": "c", "type": "text"}]}');
SELECT nomnom.ingest('CacheB', '{"b": "y"}');
SELECT ok(pg_temp.plans_for('cache_a') > 0, 'one rebuild without CacheA keeps its plans');

-- The next rebuild, CacheA still not resolved: its tree and plans are freed.
SELECT nomnom.define_entity('{"name": "CacheD", "table": "cache_d", "fields": [{"name": "d", "type": "text"}]}');
SELECT nomnom.ingest('CacheB', '{"b": "z"}');
SELECT is(pg_temp.plans_for('cache_a'), 0, 'a second rebuild without CacheA frees its plans');
SELECT ok(pg_temp.plans_for('cache_b') > 0, 'CacheB''s plans are kept');

-- CacheA used again: built anew, and written.
SELECT nomnom.ingest('CacheA', '{"a": "w"}');
SELECT is((SELECT string_agg(a, ',' ORDER BY a) FROM cache_a), 'w,x', 'CacheA written again after its tree was let go');

SELECT * FROM finish();
ROLLBACK;
