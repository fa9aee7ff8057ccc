// The original nomnom's entity YAML, translated into define_entity specs.
// Pure C++ (libyaml, no PostgreSQL headers): nomnom.import_yaml parses and translates here,
// then defines each spec in one transaction.
#pragma once

#include "nomnom/entity_spec.hpp"

#include <string>
#include <vector>

namespace nomnom {

struct ImportedEntity {
    std::string name;
    std::string spec_json; // what define_entity takes
    int document = 0;      // 1-based, in the order the YAML text gives them
};

// Translates every document of `yaml` (one entity each, `---` between them, in any order).
// `known` are the entities already defined, for children that feed from an imported
// parent's list and parents that an imported child names. The result lists parents before
// their children. Throws SpecError (22023) naming the document's entity, the field and what
// could not be mapped; nothing is returned then.
std::vector<ImportedEntity> translate_entity_yaml(const std::string& yaml,
                                                  const std::vector<EntitySpec>& known = {});

} // namespace nomnom
