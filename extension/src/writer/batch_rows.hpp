// Rows handed to nomnom's own INSERT statements through the SQL function
// nomnom.batch_rows(handle) AS r(column type, ...): the statement reads the batch's Datums
// as they are, one row a call of `fill`, instead of one array a column that it copies and
// unnests again (the unnest cost the worker dearly: bench/README.md, "Why the code is so").
// The column definition list carries
// each column's type modifier, so no length coercion runs on the way into the table.
#pragma once

#include <functional>
#include <vector>

#include "pg/pg_prelude.hpp"

namespace nomnom {

// Fills one row: `values` and `nulls` have as many entries as the statement's columns. It
// runs inside a PostgreSQL function: it must not throw, nor call PostgreSQL.
using RowFiller = std::function<void(size_t row, Datum* values, bool* nulls)>;

// Makes `count` rows of columns of `types` readable through nomnom.batch_rows(handle()) for
// the life of the scope. A call whose column definition list has other types is an error.
class BatchRows {
  public:
    BatchRows(std::vector<Oid> types, size_t count, RowFiller fill);
    ~BatchRows();
    BatchRows(const BatchRows&) = delete;
    BatchRows& operator=(const BatchRows&) = delete;

    Datum handle() const { return Int64GetDatum(handle_); }
    size_t count() const { return count_; }
    const std::vector<Oid>& types() const { return types_; }
    void fill(size_t row, Datum* values, bool* nulls) const { fill_(row, values, nulls); }

  private:
    int64 handle_;
    std::vector<Oid> types_;
    size_t count_;
    RowFiller fill_;
};

// The batch of `handle`, or nullptr.
const BatchRows* find_batch_rows(int64 handle);

} // namespace nomnom
