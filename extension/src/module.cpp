// The nomnom module: its magic block and _PG_init.
#include "pg/pg_prelude.hpp"

#include "ingest/ingest_buffer.hpp"
#include "nomnom/json_arena.hpp"
#include "gucs.hpp"
#include "workers/shmem.hpp"

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);
}

// Registers and defines only: no network connection and no threads in the postmaster.
void _PG_init(void) {
    nomnom::use_json_arena();
    nomnom::ingest_buffer_init();
    nomnom_define_gucs();
    if (process_shared_preload_libraries_in_progress)
        nomnom_workers_register();
}
