// An entity's table: created when missing (with create_table), checked when it exists.
#pragma once

#include <vector>

#include "catalog/entity_registry.hpp"

namespace nomnom {

// C++-style (SPI connected). `columns` are `spec`'s fields, resolved; `parent` is the parent
// entity's spec for a derived entity. Errors name the table, the column and the problem.
void ensure_table(const EntitySpec& spec, const std::vector<Column>& columns,
                  const EntitySpec* parent, bool create_table);

// C++-style. That `role` may write table `relid` as `spec` needs: INSERT; UPDATE for
// on_conflict "update" with a unique key; DELETE for a derived entity with on_parent_update
// "replace"; SELECT for what the writer reads back (conflicts, deletes). Else a DataError
// 42501 naming the entity, the role, the privilege and the table. Column privileges on
// every field's column count as the table's.
void check_table_privileges(const EntitySpec& spec, Oid relid, Oid role);

} // namespace nomnom
