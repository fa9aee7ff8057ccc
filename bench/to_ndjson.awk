# Turns the CSV files `nomnom-publish --dry-run --copy-dir DIR` writes into the NDJSON
# documents it publishes, printed as make_order in test/tools/nomnom_publish.cpp prints
# them (same keys, same order, values as written), so the SQL and HTTP paths ingest exactly
# the orders the drain ingests and one generator defines every path's expected totals.
#
#   awk -F, -f bench/to_ndjson.awk DIR/order_line_items.csv DIR/orders.csv > docs.ndjson
#
# Line items come first (grouped by order key, in order); orders second, one document each.
# The generator writes no commas, quotes or backslashes inside values.
FNR == NR {
    item = sprintf("{\"line_number\":%s,\"part_key\":\"%s\",\"supplier_key\":\"%s\",\"quantity\":%s," \
                   "\"extended_price\":%s,\"discount\":%s,\"tax\":%s,\"return_flag\":\"%s\"," \
                   "\"line_status\":\"%s\",\"ship_date\":\"%s\",\"commit_date\":\"%s\",\"receipt_date\":\"%s\"}",
                   $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    # Test first: assigning to items[$1] would create the element before the test.
    if ($1 in items) item = items[$1] "," item
    items[$1] = item
    next
}
{
    printf "{\"order_key\":\"%s\",\"customer_key\":\"%s\",\"order_status\":\"%s\",\"total_price\":%s," \
           "\"order_date\":\"%s\",\"order_priority\":\"%s\",\"clerk\":\"%s\",\"ship_priority\":%s," \
           "\"comment\":\"%s\",\"line_items\":[%s]}\n",
           $1, $2, $3, $4, $5, $6, $7, $8, $9, items[$1]
    delete items[$1]
}
