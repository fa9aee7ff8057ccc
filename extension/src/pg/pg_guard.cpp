#include "pg/pg_guard.hpp"

namespace nomnom {

[[noreturn]] void raise_pending(const PendingError& pending) {
    if (pending.pg != nullptr)
        ReThrowError(pending.pg);
    ereport(ERROR, (errcode(pending.sqlerrcode), errmsg("%s", pending.message),
                    pending.detail ? errdetail("%s", pending.detail) : 0));
    pg_unreachable();
}

} // namespace nomnom
