-- Dates: the writer decodes YYYY-MM-DD itself (date_in is slow); every value must come out
-- exactly as date_in makes it, and what date_in rejects must still be rejected.
BEGIN;
SELECT plan(6);

SELECT nomnom.define_entity('{"name": "Event", "table": "events", "unique": ["k"],
  "fields": [{"name": "k", "type": "String"}, {"name": "day", "type": "date", "nullable": true}]}'::jsonb);

CREATE TEMP TABLE inputs (k text, day text);
INSERT INTO inputs VALUES
  ('leap', '2024-02-29'), ('century', '2000-02-29'), ('end', '9999-12-31'), ('start', '1000-01-01'),
  ('y2k', '1999-12-31'), ('padded', '2025-01-05'),
  -- forms the fast path leaves to date_in:
  ('early', '0999-12-31'), ('spaces', ' 2025-03-04 '), ('named', 'March 4, 2025'),
  ('bc', '0044-03-15 BC'), ('far', '20000-01-01'), ('infinity', 'infinity'), ('epoch', 'epoch');

SELECT is((SELECT count(nomnom.ingest('Event', json_build_object('k', k, 'day', day)::text))::int FROM inputs),
          13, 'every date form is ingested');
SELECT is_empty($$SELECT i.k FROM inputs i JOIN events e USING (k) WHERE e.day IS DISTINCT FROM i.day::date$$,
                'each stored date equals date_in''s value for the same text');

SELECT throws_ok($$SELECT nomnom.ingest('Event', '{"k": "x", "day": "2023-02-29"}')$$, '22008', NULL,
                 'not a leap year: rejected');
SELECT throws_ok($$SELECT nomnom.ingest('Event', '{"k": "x", "day": "1900-02-29"}')$$, '22008', NULL,
                 '1900 is not a leap year: rejected');
SELECT throws_ok($$SELECT nomnom.ingest('Event', '{"k": "x", "day": "2025-13-01"}')$$, '22008', NULL,
                 'month 13: rejected');
SELECT throws_ok($$SELECT nomnom.ingest('Event', '{"k": "x", "day": "2025-1-0x"}')$$, '22007', NULL,
                 'not a date: rejected');

SELECT * FROM finish();
ROLLBACK;
