-- Loaded into the template every pgTAP suite database is copied from (run-tests.sh).
-- An Order document (tpch/order.json) with `items` line items numbered from 1.
CREATE FUNCTION test_order_doc(k text, price numeric, items int) RETURNS text LANGUAGE sql AS $$
  SELECT jsonb_build_object('order_key', k, 'customer_key', 'c', 'order_status', 'O', 'total_price', price,
    'order_date', '2025-01-01', 'line_items',
    (SELECT coalesce(jsonb_agg(jsonb_build_object('line_number', n, 'part_key', 'p', 'quantity', 1,
                                                  'extended_price', n * 10)), '[]')
     FROM generate_series(1, items) n))::text $$;
