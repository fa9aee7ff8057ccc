// New rows written the way COPY writes them (PostgreSQL 15's copyfrom.c): tuples buffered
// in slots, heap_multi_insert'ed a page at a time (one WAL record a page, not one a row),
// then their index entries. For the rows a plain INSERT would take: a unique violation is
// raised as INSERT raises it, so plain_first.hpp's subtransaction falls back to the upsert.
//
// What an INSERT would do and this does too: the INSERT privilege on the table or on every
// written column (ExecCheckRTPerms, hook included), defaults of the other columns (identity
// and serial ids included), stored generated columns, NOT NULL and CHECK constraints,
// unique indexes. What it does not do, so then it writes nothing and says so, and the
// caller runs its INSERT instead: a table that is not a plain table (partitioned, foreign,
// a view, a partition itself), INSERT triggers of any kind (which covers foreign keys and
// deferrable unique constraints: both are triggers), row-level security in force for the
// current user, a default with a volatile function other than nextval (as COPY), a column
// whose type or modifier differs from the value's (INSERT would cast it), missing privileges
// (the INSERT raises the error). With nomnom.copy_insert off it always steps aside.
#pragma once

#include <vector>

#include "writer/batch_rows.hpp"
#include "writer/tuple_image.hpp"

namespace nomnom {

struct BulkColumn {
    const char* name; // the table's column
    Oid type;         // the Datums' type and modifier
    int32 typmod;
};

// Rows laid out ahead (tuple_image.hpp) in `layout`: row r's image, or nullptr for a row
// whose values `fill` gives. It must not throw, nor call PostgreSQL.
struct TupleImages {
    const TupleLayout* layout;
    std::function<HeapTupleHeader(size_t row)> image;
};

// Inserts `count` rows of `columns` into `relid` (each row from `fill`, as for BatchRows),
// COPY-style. False, with nothing written, when the table needs what this does not do (see
// above). With `returned_ids`, the value of bigint column `id` of each row, in order. With
// `images`, a row that has one is copied from it (when the table still has its layout, its
// columns are the layout's fields in order and the identity id is the only default), the
// same bytes heap_form_tuple makes of `fill`'s values. C++-style: errors throw PgError (a
// unique violation as an INSERT's).
bool bulk_insert(Oid relid, const std::vector<BulkColumn>& columns, size_t count,
                 const RowFiller& fill, std::vector<int64>* returned_ids = nullptr,
                 const TupleImages* images = nullptr);

} // namespace nomnom
