-- Fields computed by a SQL function ("function": "schema.fn"): the element (or document) as
-- jsonb in, the field's type out, called set-wise in the batch's INSERT; checked at
-- define time; an error it raises is a data error.
BEGIN;
SELECT plan(22);

CREATE SCHEMA xf;
-- The original's custom transforms, migrated: a total from a document, a label from an element.
CREATE FUNCTION xf.order_total(doc jsonb) RETURNS numeric LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT sum((i ->> 'quantity')::numeric * (i ->> 'price')::numeric)
          FROM jsonb_array_elements(doc -> 'items') i $$;
CREATE FUNCTION xf.item_label(item jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT
    AS $$ BEGIN
        IF item ->> 'sku' = 'BAD' THEN
            RAISE EXCEPTION 'no label for sku %', item ->> 'sku';
        END IF;
        RETURN upper(item ->> 'sku') || ' x' || (item ->> 'quantity');
    END $$;
CREATE FUNCTION xf.wrap(x jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE
    AS $$ SELECT jsonb_build_object('w', x -> 'sku') $$;
CREATE FUNCTION xf.two_args(a jsonb, b jsonb) RETURNS text LANGUAGE sql AS $$ SELECT '' $$;
CREATE FUNCTION xf.a_point(a jsonb) RETURNS point LANGUAGE sql AS $$ SELECT point(0, 0) $$;

SELECT lives_ok($$SELECT nomnom.define_entity('{"name": "Basket", "table": "baskets",
  "fields": [{"name": "ref", "type": "text", "nullable": false},
             {"name": "total", "type": "numeric(10,2)", "function": "xf.order_total"}],
  "unique": ["ref"]}')$$, 'a root entity with a function field');
SELECT lives_ok($$SELECT nomnom.define_entity('{"name": "BasketItem", "table": "basket_items",
  "parent": "Basket", "each": "items",
  "fields": [{"name": "ref", "type": "text", "from_parent": "ref"},
             {"name": "sku", "type": "text"},
             {"name": "label", "type": "text", "function": "xf.item_label", "nullable": false}],
  "unique": ["ref", "sku"]}')$$, 'a derived entity with a function field');
SELECT col_type_is('public', 'baskets', 'total', 'numeric(10,2)', 'the column has the field''s type');
SELECT is((SELECT spec -> 'fields' -> 1 ->> 'function' FROM nomnom.entities WHERE name = 'Basket'),
          'xf.order_total', 'the catalog keeps the function');

SELECT lives_ok($$SELECT nomnom.ingest('Basket', '{"ref": "B1", "items": [
  {"sku": "a", "quantity": 2, "price": 1.25}, {"sku": "b", "quantity": 1, "price": 10}]}')$$,
  'a document ingests');
SELECT is((SELECT total FROM baskets WHERE ref = 'B1'), 12.50::numeric, 'the document''s function ran on the whole document');
SELECT results_eq($$SELECT sku, label FROM basket_items ORDER BY sku$$,
                  $$VALUES ('a'::text, 'A x2'::text), ('b', 'B x1')$$, 'the element''s function ran on each element');
SELECT results_eq($$SELECT (row ->> 'label') FROM nomnom.preview('Basket', '{"ref": "P", "items": [{"sku": "z", "quantity": 3}]}') WHERE entity = 'BasketItem'$$,
                  $$VALUES ('Z x3'::text)$$, 'preview shows the function''s value');

-- A jsonb function into a jsonb column of a key-less entity (the COPY-style path's case):
-- the column gets the function's value, not its argument.
SELECT lives_ok($$SELECT nomnom.define_entity('{"name": "Wrapped", "table": "wrapped",
  "fields": [{"name": "w", "type": "jsonb", "function": "xf.wrap"}]}')$$, 'a jsonb function field');
SELECT lives_ok($$SELECT nomnom.ingest('Wrapped', '{"sku": "k"}')$$, 'a jsonb function field ingests');
SELECT is((SELECT w FROM wrapped), '{"w": "k"}'::jsonb, 'the jsonb column holds the function''s value');

-- An error the function raises is a data error naming the entity and the field.
SELECT throws_like($$SELECT nomnom.ingest('Basket', '{"ref": "B2", "items": [{"sku": "BAD", "quantity": 1, "price": 1}]}')$$,
                   '%entity "BasketItem"%no label for sku BAD%', 'the function''s error names the entity');
SELECT is((SELECT count(*)::int FROM baskets WHERE ref = 'B2'), 0, 'and writes nothing');
SELECT throws_ok($$SELECT nomnom.ingest('Basket', '{"ref": "B3", "items": [{"sku": "BAD", "quantity": 1, "price": 1}]}')$$,
                 '22000', NULL, 'with a data exception SQLSTATE (class 22: a dead letter, never a retry)');

-- Checked at define time.
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "X1", "fields": [{"name": "a", "type": "text", "function": "xf.nope"}]}')$$,
                   '%entity "X1", field "a"%function xf.nope(jsonb) does not exist%', 'an unknown function');
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "X2", "fields": [{"name": "a", "type": "text", "function": "xf.two_args"}]}')$$,
                   '%function xf.two_args(jsonb) does not exist%', 'a function that does not take one jsonb');
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "X3", "fields": [{"name": "a", "type": "int4", "function": "xf.a_point"}]}')$$,
                   '%entity "X3", field "a"%returns point%integer%', 'a return type the column cannot take');
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "X4", "fields": [{"name": "a", "type": "text", "function": "xf.item_label", "path": "a"}]}')$$,
                   '%entity "X4", field "a"%only one of%', 'function and path together');
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "X5", "unique": ["a"], "fields": [{"name": "a", "type": "text", "function": "xf.item_label"}]}')$$,
                   '%entity "X5"%unique field "a" is computed by a function%', 'a function field in the unique key');
-- from_parent copies the parent's value before its function runs: neither direction.
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "X6", "parent": "Basket", "each": "items",
  "on_parent_update": "upsert", "fields": [{"name": "t", "type": "numeric", "from_parent": "total"}]}')$$,
                   '%entity "X6", field "t"%parent field "total" is computed by a function%', 'a child copying a function field');
SELECT lives_ok($q$DO $$ BEGIN
  PERFORM nomnom.define_entity('{"name": "Crate", "fields": [{"name": "note", "type": "text"}]}');
  PERFORM nomnom.define_entity('{"name": "CrateNote", "parent": "Crate", "each": "items",
    "fields": [{"name": "note", "type": "text", "from_parent": "note"}]}');
  END $$$q$, 'a parent and a child copying its field');
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "Crate", "fields": [{"name": "note", "type": "text", "function": "xf.item_label"}]}')$$,
                   '%entity "Crate": derived entity "CrateNote" copies field "note"%function computes it%', 'a parent turning a copied field into a function field');

SELECT * FROM finish();
ROLLBACK;
