// A row's heap tuple laid out ahead, off the backend: the prefetch thread writes each row's
// t_data exactly as heap_form_tuple would (header, NULL bitmap, aligned attributes, short
// varlena headers), so the backend forms the tuple with one copy of lines that sit next to
// each other instead of reading every Datum, null flag and text the other core wrote
// (bench/README.md, item 39). Only for a table nomnom made as it makes them: the identity
// `id` first, then the entity's fields in order; the backend patches the id in.
#pragma once

#include <vector>

#include "nomnom/arena.hpp"
#include "pg/pg_prelude.hpp"

extern "C" {
#include "access/htup_details.h"
}

namespace nomnom {

struct ResolvedEntity;

// What heap_form_tuple reads of the table's TupleDesc, copied into plain memory on the
// backend (the prefetch thread may not touch PostgreSQL's structures). attrs[0] is the
// identity id, attrs[f + 1] the entity's field f.
struct TupleLayout {
    struct Attr {
        int16 len;    // attlen
        bool byval;   // attbyval
        char align;   // attalign
        char storage; // attstorage
        bool operator==(const Attr& o) const {
            return len == o.len && byval == o.byval && align == o.align && storage == o.storage;
        }
    };
    std::vector<Attr> attrs;  // empty: the table is not laid out so, images are not made
    Oid type_id = InvalidOid; // tdtypeid
    int32 typmod = -1;        // tdtypmod
    bool usable() const { return !attrs.empty(); }
};

// The layout of `entity`'s table, or an unusable one: the table is not nomnom's own shape
// (other or dropped columns, another type or modifier than the field's, generated
// columns), the entity has function fields (the INSERT computes those columns) or fields
// that take the parent's generated id (the writer fills those in). C++-style.
TupleLayout tuple_layout(const ResolvedEntity& entity);

// Whether `desc` (the relation as it is now) still has `layout`. PostgreSQL-style, no
// allocation: the table may have been altered since the layout was taken.
bool layout_matches(const TupleLayout& layout, TupleDesc desc);

// One row's t_data as heap_form_tuple makes it (its length in its datum-length field,
// HeapTupleHeaderGetDatumLength), the id 0, in `arena`; nullptr for a value this does not
// lay out (an external or expanded varlena). `values`/`nulls` as DocumentRows::Head's ('n':
// NULL), one per field; no value may be kNotConverted. Pure C++ (std::bad_alloc): safe on
// the prefetch thread.
HeapTupleHeader make_tuple_image(const TupleLayout& layout, const Datum* values, const char* nulls,
                                 Arena& arena);

// A palloc'd HeapTuple (in `context`) copied from `image`, with `id` as its attribute 1.
// PostgreSQL-style (may ereport out of memory).
HeapTuple tuple_from_image(HeapTupleHeader image, int64 id, MemoryContext context);

} // namespace nomnom
