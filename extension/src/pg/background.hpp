// What the launcher and the workers share as background processes: waiting on the latch, and
// a short transaction that reads the catalog. PostgreSQL-style code.
#pragma once

#include "pg/pg_prelude.hpp"

extern "C" {
#include "commands/extension.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
}

namespace nomnom {

// Sleeps up to `ms` or until the latch is set (exits when the postmaster dies), then resets it.
inline void wait_on_latch(long ms) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
}

// One short transaction with a snapshot and SPI connected, shown as `activity` in
// pg_stat_activity; `body` runs only when the extension is installed in this database.
// Returns whether it is. PostgreSQL-style: `body` may ereport (the process then exits).
template <typename Body> bool in_catalog_transaction(const char* activity, Body&& body) {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, activity);
    bool installed = OidIsValid(get_extension_oid("nomnom", true));
    if (installed) {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "nomnom: SPI_connect failed");
        body();
        SPI_finish();
    }
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
    return installed;
}

} // namespace nomnom
