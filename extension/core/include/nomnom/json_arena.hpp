// An allocator for jansson inside the extension: a bump arena that rewinds whenever no
// jansson value is alive. A document's parse makes many small allocations that all die
// together when the document is done; malloc and free for each cost more than the parse.
// One arena per thread: a value must be freed on the thread that made it (as the
// extension does: a document is parsed, mapped and freed on one thread). The bridge keeps
// jansson's default allocator.
#pragma once

#include <cstddef>

namespace nomnom {

// Makes jansson allocate from the arena. Call once, before jansson allocates anything.
void use_json_arena();

// Bytes the arena holds (for tests).
size_t json_arena_capacity();

} // namespace nomnom
