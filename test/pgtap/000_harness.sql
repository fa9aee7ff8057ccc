-- The pgTAP harness itself: the template database every suite starts from.
-- If this suite fails, read it before any other: the others depend on what it checks.
BEGIN;
SELECT plan(6);

-- pgTAP is installed and working.
SELECT has_extension('pgtap', 'pgtap is installed in the suite database');
SELECT pass('pgtap reports a passing assertion');

-- Every file under test/fixtures/ is a row of public.fixtures, named by its path.
SELECT has_table('public', 'fixtures', 'public.fixtures exists');
SELECT set_has('SELECT name FROM public.fixtures',
               $$VALUES ('tpch/order.json'), ('tpch/orderlineitem.json'),
                        ('test_order_with_lineitems.json')$$,
               'the fixtures are loaded, named by their path under test/fixtures');
SELECT ok((SELECT body::jsonb IS NOT NULL FROM public.fixtures WHERE name = 'tpch/order.json'),
          'tpch/order.json is there and is valid JSON');

-- A fresh database per suite file: nothing a previous suite committed is visible.
SELECT is(current_database() LIKE 'pgtap_%', true, 'the suite runs in its own database');

SELECT * FROM finish();
ROLLBACK;
