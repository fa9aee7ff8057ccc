// Running C++-style code in a PostgreSQL subtransaction.
#pragma once

#include <exception>

#include "pg/pg_guard.hpp"

namespace nomnom {

// Runs `body` in a subtransaction: released when it returns, rolled back when it throws.
// Returns what it threw (nullptr when it returned); the caller decides whether to rethrow.
// Memory context and resource owner are the caller's again on return.
template <typename Body> std::exception_ptr in_subtransaction(Body&& body) {
    MemoryContext context = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    pg_call([] { BeginInternalSubTransaction(nullptr); });
    MemoryContextSwitchTo(context);
    std::exception_ptr thrown;
    try {
        body();
    } catch (...) {
        thrown = std::current_exception();
    }
    pg_call([&] {
        if (thrown)
            RollbackAndReleaseCurrentSubTransaction();
        else
            ReleaseCurrentSubTransaction();
    });
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
    return thrown;
}

// "Set-wise, then one by one": runs `all` (the whole batch at once) in a subtransaction; when
// it throws, that is rolled back and one(i) runs for each i in [0, count) instead, in a
// subtransaction of its own, so that one bad item costs only itself. What one(i) throws goes
// to failed(i, thrown), which may rethrow. C++-style. Used by the worker (a message's error
// makes it a retry or a dead letter) and by the ingest buffer (the culprit's error is raised).
template <typename All, typename One, typename Failed>
void set_wise_then_one_by_one(size_t count, All&& all, One&& one, Failed&& failed) {
    if (!in_subtransaction(all))
        return;
    for (size_t i = 0; i < count; ++i)
        if (std::exception_ptr thrown = in_subtransaction([&] { one(i); }))
            failed(i, thrown);
}

} // namespace nomnom
