#include "writer/plain_first.hpp"

#include "writer/row_writer.hpp"
#include "pg/subtransaction.hpp"

namespace nomnom {
namespace {

constexpr size_t kMinRows = 16;           // below this, the upsert alone
constexpr int kSkipAfterConflict = 16;    // batches that go straight to the upsert

} // namespace

bool PlainFirst::worth_trying(size_t rows) {
    if (rows < kMinRows)
        return false;
    if (skip_ > 0) {
        --skip_;
        return false;
    }
    return true;
}

bool PlainFirst::try_insert(SPIPlanPtr plain, std::vector<Datum>& params, const char* what) {
    return try_write([&] { execute(plain, params, what); });
}

bool PlainFirst::try_write(const std::function<void()>& write) {
    std::exception_ptr thrown = in_subtransaction([&] { write(); });
    if (!thrown)
        return true;
    try {
        std::rethrow_exception(thrown);
    } catch (const PgError& error) {
        if (error.sqlerrcode() != ERRCODE_UNIQUE_VIOLATION)
            throw;
    }
    skip_ = kSkipAfterConflict;
    return false;
}

} // namespace nomnom
