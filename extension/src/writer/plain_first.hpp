// Upserts whose rows are almost always new (a status claim, a stream of new orders) run
// faster as a plain INSERT: ON CONFLICT's speculative insertion costs each row an extra
// index probe, a speculative lock and a second WAL record. So a batch is first tried as a
// plain INSERT in a subtransaction; if any row already exists (a unique violation) that is
// rolled back and the upsert runs instead, with the same result as if it had run alone.
// After such a conflict the plain try is skipped for a while, so that a table that keeps
// seeing updates (a stream of changed orders, rows the bridge marked pending) pays for a
// failed try only now and then.
#pragma once

#include <functional>
#include <vector>

#include "pg/pg_prelude.hpp"

namespace nomnom {

class PlainFirst {
  public:
    // Whether to try the plain INSERT for `rows` rows: not for a few rows (the
    // subtransaction would cost more than it saves), nor soon after a conflict.
    bool worth_trying(size_t rows);

    // Runs `plain` (SPI connected) in a subtransaction. True when it wrote every row; false,
    // with nothing written, when a row already existed. Any other error is thrown as usual
    // (C++-style), the subtransaction rolled back.
    bool try_insert(SPIPlanPtr plain, std::vector<Datum>& params, const char* what);

    // The same for any writing of new rows (bulk_insert.hpp's, or `plain` when it cannot).
    bool try_write(const std::function<void()>& write);

  private:
    int skip_ = 0; // plain tries still to skip after the last conflict
};

} // namespace nomnom
