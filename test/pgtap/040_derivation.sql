-- Nested derivation, parent ids, paths, metadata, conflict and parent-update modes, types.
BEGIN;
SELECT plan(23);

-- Three levels: a shipment, its packages (linked by the shipment's generated id), and each
-- package's items (linked by the package's id and a copied natural key).
SELECT nomnom.define_entity('{"name": "Shipment", "table": "shipments",
  "fields": [{"name": "ref", "type": "text", "nullable": false},
             {"name": "city", "type": "text", "path": "address.city"},
             {"name": "msg", "type": "uuid", "source": "message_id"},
             {"name": "got", "type": "timestamptz", "source": "received_at"},
             {"name": "weight", "type": "numeric"},
             {"name": "express", "type": "Boolean"},
             {"name": "tags", "type": "text[]"},
             {"name": "extra", "type": "jsonb"}],
  "unique": ["ref"]}');
SELECT nomnom.define_entity('{"name": "Package", "table": "packages", "parent": "Shipment", "each": "packages",
  "fields": [{"name": "shipment_id", "type": "int8", "from_parent": "id", "nullable": false},
             {"name": "ref", "type": "text", "from_parent": "ref"},
             {"name": "label", "type": "text", "nullable": false}],
  "unique": ["ref", "label"]}');
SELECT nomnom.define_entity('{"name": "Item", "table": "items", "parent": "Package", "each": "contents.items",
  "fields": [{"name": "package_id", "type": "int8", "from_parent": "id"},
             {"name": "label", "type": "text", "from_parent": "label"},
             {"name": "sku", "type": "text"},
             {"name": "qty", "type": "int4"}]}');

SELECT lives_ok($$SELECT nomnom.ingest('Shipment', '{"ref": "S1", "address": {"city": "Lyon"},
  "weight": 12.50, "express": true, "tags": ["fragile", "a \"quoted\" tag"], "extra": {"n": 1.10, "ok": [true, null]},
  "packages": [
    {"label": "A", "contents": {"items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2}]}},
    {"label": "B", "contents": {"items": [{"sku": "z", "qty": 3}]}}]}',
  'b0000000-0000-4000-8000-000000000001')$$, 'a three-level document ingests');

SELECT is((SELECT count(*)::int FROM shipments), 1, 'one shipment');
SELECT is((SELECT count(*)::int FROM packages), 2, 'two packages');
SELECT is((SELECT count(*)::int FROM items), 3, 'three items');
SELECT ok((SELECT bool_and(p.shipment_id = s.id) FROM packages p, shipments s), 'packages carry the shipment''s generated id');
SELECT results_eq($$SELECT p.label, i.sku, i.qty FROM items i JOIN packages p ON p.id = i.package_id ORDER BY i.sku$$,
                  $$VALUES ('A'::text, 'x'::text, 1), ('A', 'y', 2), ('B', 'z', 3)$$,
                  'items point at their own package, through a nested each path');
SELECT is((SELECT city FROM shipments), 'Lyon', 'a dot path reads a nested member');
SELECT is((SELECT msg FROM shipments), 'b0000000-0000-4000-8000-000000000001'::uuid, 'source message_id');
SELECT ok((SELECT got BETWEEN now() - interval '1 minute' AND clock_timestamp() FROM shipments), 'source received_at');
SELECT is((SELECT weight::text FROM shipments), '12.50', 'numeric without a modifier keeps the text as written');
SELECT is((SELECT express FROM shipments), true, 'Boolean is bool');
SELECT is((SELECT tags FROM shipments), ARRAY['fragile', 'a "quoted" tag'], 'a JSON array fills a text[] column');
SELECT is((SELECT extra FROM shipments), '{"n": 1.10, "ok": [true, null]}'::jsonb, 'an object fills a jsonb column');

-- The same shipment again, with package A gone and B changed: replace leaves exactly the new tree.
SELECT lives_ok($$SELECT nomnom.ingest('Shipment', '{"ref": "S1", "packages": [
    {"label": "B", "contents": {"items": [{"sku": "w", "qty": 9}]}}]}')$$, 'a new version ingests');
SELECT is((SELECT count(*)::int FROM shipments), 1, 'still one shipment');
SELECT results_eq($$SELECT p.label, i.sku, i.qty FROM items i JOIN packages p ON p.id = i.package_id$$,
                  $$VALUES ('B'::text, 'w'::text, 9)$$, 'no orphans from the older version at any level');
SELECT is((SELECT count(*)::int FROM items), 1, 'old items are gone');
SELECT is((SELECT city FROM shipments), NULL, 'on_conflict update rewrites the row');

-- on_parent_update upsert only adds and updates.
SELECT nomnom.define_entity('{"name": "Log", "table": "logs", "unique": ["k"], "fields": [{"name": "k", "type": "text"}]}');
SELECT nomnom.define_entity('{"name": "Line", "table": "log_lines", "parent": "Log", "each": "lines",
  "on_parent_update": "upsert", "unique": ["k", "n"],
  "fields": [{"name": "k", "type": "text", "from_parent": "k"}, {"name": "n", "type": "int4"}, {"name": "t", "type": "text"}]}');
SELECT nomnom.ingest('Log', '{"k": "L", "lines": [{"n": 1, "t": "one"}, {"n": 2, "t": "two"}]}');
SELECT nomnom.ingest('Log', '{"k": "L", "lines": [{"n": 2, "t": "TWO"}, {"n": 3, "t": "three"}]}');
SELECT results_eq($$SELECT n, t FROM log_lines ORDER BY n$$,
                  $$VALUES (1, 'one'::text), (2, 'TWO'), (3, 'three')$$, 'upsert keeps, updates and adds');

-- on_conflict ignore keeps the first version, children included; error rejects a repeat.
SELECT nomnom.define_entity('{"name": "First", "table": "firsts", "unique": ["k"], "on_conflict": "ignore",
  "fields": [{"name": "k", "type": "text"}, {"name": "v", "type": "text"}]}');
SELECT nomnom.define_entity('{"name": "FirstPart", "table": "first_parts", "parent": "First", "each": "parts",
  "fields": [{"name": "k", "type": "text", "from_parent": "k"}, {"name": "p", "type": "text"}]}');
SELECT nomnom.ingest('First', '{"k": "a", "v": "old", "parts": [{"p": "1"}]}');
SELECT nomnom.ingest('First', '{"k": "a", "v": "new", "parts": [{"p": "2"}, {"p": "3"}]}');
SELECT is((SELECT v FROM firsts), 'old', 'ignore keeps the first row');
SELECT is((SELECT string_agg(p, ',') FROM first_parts), '1', 'and its children');
SELECT nomnom.define_entity('{"name": "Once", "table": "onces", "unique": ["k"], "on_conflict": "error",
  "fields": [{"name": "k", "type": "text"}]}');
SELECT nomnom.ingest('Once', '{"k": "a"}');
SELECT throws_ok($$SELECT nomnom.ingest('Once', '{"k": "a"}')$$, '23505', NULL, 'error rejects a repeated key');
SELECT is((SELECT count(*)::int FROM nomnom.message_status WHERE entity = 'Once'), 1,
          'the rejected message left no status row');

SELECT * FROM finish();
ROLLBACK;
