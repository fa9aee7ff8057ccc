// Writes a mapped document's rows with prepared statements: upserts per the entity's
// `unique`/`on_conflict`, and for derived entities with on_parent_update = replace, removes
// the rows (and their replace-mode descendants) of an older version of the document.
#pragma once

#include <vector>

#include "entity_registry.hpp"

namespace nomnom {

// Text -> Datum for every field of `row`. C++-style: a bad value is a DataError naming the
// entity, the field and its path. Parent-id fields are left for the caller.
void convert_row(const ResolvedEntity& entity, const MappedRow& row, Datum* values, char* nulls);

// Writes `doc` (SPI connected). C++-style.
void write_document(ResolvedTree& resolved, const MappedDocument& doc);

} // namespace nomnom
