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

} // namespace nomnom
