// Called by _PG_init: defines the nomnom.* GUCs and, when preloaded, requests shared memory
// and registers the launcher.
#pragma once

void nomnom_worker_init(void);
