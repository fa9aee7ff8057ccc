-- Deterministic TPC-H-style orders for benchmarks, generated in SQL.
-- Usage: psql -v orders=10000 -f bench/tpch_gen.sql
-- Makes bench_orders, bench_items (1 to 7 items an order, 4 on average) and bench_docs
-- (one JSON document an order, as the example order is shaped).
DROP TABLE IF EXISTS bench_orders, bench_items, bench_docs;

CREATE TABLE bench_orders AS
SELECT i,
       'ORD-' || lpad(i::text, 9, '0')                 AS order_key,
       'C' || (1000 + i % 997)                         AS customer_key,
       (ARRAY['F', 'O', 'P'])[1 + i % 3]               AS order_status,
       round((100 + (i * 7919) % 900000 / 100.0)::numeric, 2) AS total_price,
       date '2024-01-01' + (i % 700)                   AS order_date,
       (ARRAY['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'])[1 + i % 5] AS order_priority,
       'Clerk#' || lpad((i % 1000)::text, 9, '0')      AS clerk,
       0                                               AS ship_priority,
       'generated order ' || i                         AS comment
FROM generate_series(1, :orders) AS i;

CREATE TABLE bench_items AS
SELECT o.order_key, n AS line_number,
       'P' || (5000 + (o.i * 31 + n) % 2000)           AS part_key,
       'S' || (500 + (o.i + n) % 100)                  AS supplier_key,
       1 + (o.i + n) % 50                              AS quantity,
       round((10 + ((o.i * 104729 + n * 7) % 100000) / 100.0)::numeric, 2) AS extended_price,
       round(((o.i + n) % 11) / 100.0, 2)              AS discount,
       round(((o.i + n) % 9) / 100.0, 2)               AS tax,
       (ARRAY['N', 'R', 'A'])[1 + (o.i + n) % 3]       AS return_flag,
       (ARRAY['O', 'F'])[1 + (o.i + n) % 2]            AS line_status,
       o.order_date + 5                                AS ship_date,
       o.order_date + 3                                AS commit_date,
       CASE WHEN n % 2 = 0 THEN o.order_date + 9 END   AS receipt_date
FROM bench_orders o, generate_series(1, 1 + (o.i * 13) % 7) AS n;

CREATE TABLE bench_docs AS
SELECT o.i, (to_jsonb(o) - 'i' || jsonb_build_object('line_items',
         (SELECT jsonb_agg(to_jsonb(it) - 'order_key' ORDER BY it.line_number)
          FROM bench_items it WHERE it.order_key = o.order_key)))::text AS body
FROM bench_orders o;
CREATE INDEX ON bench_items (order_key);
ANALYZE bench_orders, bench_items, bench_docs;
