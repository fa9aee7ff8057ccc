// Writes mapped documents set-wise: one statement per entity for a whole batch, which reads
// the batch's rows through nomnom.batch_rows (batch_rows.hpp). Upserts follow the entity's
// `unique`/`on_conflict`; for a derived entity with on_parent_update = replace, the rows (and
// replace-mode descendants) of an older version of a document are deleted before the new
// ones are inserted.
#pragma once

#include <vector>

#include "catalog/entity_registry.hpp"
#include "writer/fast_input.hpp"

namespace nomnom {

// One document on its way into the tables: its rows, converted to Datums, and what
// writing them found.
struct DocumentRows {
    // What the write reads of each row, 24 bytes a row in one array: not the MappedRow (88
    // bytes and three heap blocks), whose lines the prefetch thread wrote on the other core
    // and whose first reads here are cache misses (bench/README.md, item 34).
    struct Head {
        Datum* values;  // one per field, in the arena
        char* nulls;    // one per field, 'n' for NULL as SPI wants; kNotConverted
        int entity;     // doc.rows[r].entity
        int parent_row; // doc.rows[r].parent_row
        // The row's heap tuple laid out ahead (tuple_image.hpp), in the arena, or nullptr:
        // what a COPY-style write copies instead of reading values and nulls.
        HeapTupleHeader image;
    };
    std::vector<Head> heads;    // one per row of doc.rows
    bool preconverted = false;  // preconvert_document ran
    bool all_converted = false; // and left no value to the input functions
    std::vector<char> skipped;  // a conflict was ignored here or above
    std::vector<char> inserted; // new row, not an update of an older version
    std::vector<int64> ids;     // generated ids, where a child copies them
    // Its arena also holds the Datums fast_input made, and the rows' arrays above. Last: the
    // write reads the members above, which then share the struct's first lines.
    MappedDocument doc;
};

// In DocumentRows::Head::nulls: a value preconvert_document left for the type's input function.
constexpr char kNotConverted = '?';

// Text -> Datum for every field of `row`. C++-style: a bad value is a DataError naming the
// entity, the field and its path. Parent-id fields are left for the writer. With an
// `arena`, common types go through fast_input; with `only_not_converted`, only fields
// marked kNotConverted are converted.
void convert_row(const ResolvedEntity& entity, const MappedRow& row, Datum* values, char* nulls,
                 Arena* arena = nullptr, bool only_not_converted = false);

// What convert_document can do off the backend: every value fast_input takes; the others
// are marked kNotConverted. Pure C++ (std::bad_alloc): safe on the prefetch thread.
void preconvert_document(const ResolvedTree& resolved, DocumentRows& rows);

// Clears what an earlier write attempt found (skipped, inserted, ids).
void reset_write_state(DocumentRows& rows);

// Empties `rows` for the next document, as a new DocumentRows would be, but keeps what its
// storage took (up to a bound; nomnom::recycle for the mapping). Pure C++: the prefetch
// thread recycles a written batch's rows into the next batch's (prefetch.cpp).
void recycle(DocumentRows& rows);

// Converts every row of `rows.doc` (what preconvert_document left, if it ran). C++-style
// (DataError). What a write finds is reset_write_state's, before each write.
void convert_document(const ResolvedTree& resolved, DocumentRows& rows);

// A row that write_documents wrote (inserted or updated), for entity events: the document
// row it came from, its entity (an index into the tree) and the row as stored (a json
// Datum, allocated in the current memory context).
struct WrittenRow {
    DocumentRows* doc;
    int row;
    int entity;
    Datum payload;
};

// Writes converted documents that share `resolved` (SPI connected). C++-style: any error
// throws, and the caller's (sub)transaction must be rolled back. With `written`, every row
// written is appended there, as stored (its INSERT returns it: no COPY-style path then).
void write_documents(ResolvedTree& resolved, const std::vector<DocumentRows*>& docs,
                     std::vector<WrittenRow>* written = nullptr);

// Runs a prepared statement whose parameters are never NULL. C++-style.
void execute(SPIPlanPtr plan, std::vector<Datum>& params, const char* what);

} // namespace nomnom
