// define_entity's body, shared by nomnom.define_entity and nomnom.import_yaml.
#pragma once

#include <string>

namespace nomnom {

// Parses, checks and records one entity spec (JSON text); creates or checks its table.
// Returns the entity's name. C++-style: throws DataError/PgError.
std::string define_entity(const std::string& spec_json, bool create_table);

} // namespace nomnom
