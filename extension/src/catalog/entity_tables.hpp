// An entity's table: created when missing (with create_table), checked when it exists.
#pragma once

#include <vector>

#include "catalog/entity_registry.hpp"

namespace nomnom {

// C++-style (SPI connected). `columns` are `spec`'s fields, resolved; `parent` is the parent
// entity's spec for a derived entity. Errors name the table, the column and the problem.
void ensure_table(const EntitySpec& spec, const std::vector<Column>& columns,
                  const EntitySpec* parent, bool create_table);

} // namespace nomnom
