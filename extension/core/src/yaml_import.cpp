#include "nomnom/yaml_import.hpp"

#include "nomnom/json_ptr.hpp"

#include <yaml.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>

namespace nomnom {
namespace {

[[noreturn]] void fail(const std::string& message) {
    throw SpecError(message, "22023");
}

// ---------------------------------------------------------------------------------------------
// The YAML text as a tree of our own (libyaml's document API builds it; we copy it out so the
// translation below needs no libyaml object alive).

struct Node {
    enum class Kind { Null, Scalar, Sequence, Mapping };
    Kind kind = Kind::Null;
    std::string text; // a scalar's value
    bool quoted = false;
    int line = 0; // 1-based
    std::vector<Node> items;
    std::vector<std::pair<std::string, Node>> members;

    const Node* get(const std::string& key) const {
        for (const auto& member : members)
            if (member.first == key)
                return &member.second;
        return nullptr;
    }
    bool is_null() const { return kind == Kind::Null; }
};

constexpr int kMaxDepth = 64;

Node convert(yaml_document_t* document, yaml_node_t* node, int depth, int document_number) {
    const std::string where = "document " + std::to_string(document_number);
    if (depth > kMaxDepth)
        fail(where + ", line " + std::to_string(node->start_mark.line + 1) + ": nested more than " +
             std::to_string(kMaxDepth) + " levels deep");
    Node out;
    out.line = static_cast<int>(node->start_mark.line) + 1;
    switch (node->type) {
    case YAML_SCALAR_NODE: {
        out.text.assign(reinterpret_cast<const char*>(node->data.scalar.value),
                        node->data.scalar.length);
        out.quoted = node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        bool null_word = out.text.empty() || out.text == "~" || out.text == "null" ||
                         out.text == "Null" || out.text == "NULL";
        out.kind = !out.quoted && null_word ? Node::Kind::Null : Node::Kind::Scalar;
        break;
    }
    case YAML_SEQUENCE_NODE:
        out.kind = Node::Kind::Sequence;
        for (yaml_node_item_t* item = node->data.sequence.items.start;
             item < node->data.sequence.items.top; ++item)
            out.items.push_back(convert(document, yaml_document_get_node(document, *item),
                                        depth + 1, document_number));
        break;
    case YAML_MAPPING_NODE:
        out.kind = Node::Kind::Mapping;
        for (yaml_node_pair_t* pair = node->data.mapping.pairs.start;
             pair < node->data.mapping.pairs.top; ++pair) {
            yaml_node_t* key = yaml_document_get_node(document, pair->key);
            std::string line = std::to_string(key->start_mark.line + 1);
            if (key->type != YAML_SCALAR_NODE)
                fail(where + ", line " + line + ": a mapping key must be a plain name");
            std::string name(reinterpret_cast<const char*>(key->data.scalar.value),
                             key->data.scalar.length);
            if (out.get(name) != nullptr)
                fail(where + ", line " + line + ": key \"" + name +
                     "\" appears twice (are two files concatenated without a \"---\" "
                     "between them?)");
            out.members.emplace_back(name, convert(document,
                                                   yaml_document_get_node(document, pair->value),
                                                   depth + 1, document_number));
        }
        break;
    default:
        break;
    }
    return out;
}

struct ParserCloser {
    void operator()(yaml_parser_t* parser) const {
        yaml_parser_delete(parser);
        delete parser;
    }
};

std::vector<Node> load_documents(const std::string& text) {
    std::unique_ptr<yaml_parser_t, ParserCloser> parser(new yaml_parser_t);
    if (!yaml_parser_initialize(parser.get())) {
        delete parser.release();
        fail("YAML: cannot initialise the parser");
    }
    yaml_parser_set_input_string(parser.get(), reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    std::vector<Node> documents;
    for (int number = 1;; ++number) {
        yaml_document_t document;
        if (!yaml_parser_load(parser.get(), &document)) {
            std::string problem = parser->problem != nullptr ? parser->problem : "invalid YAML";
            if (parser->context != nullptr)
                problem = std::string(parser->context) + ": " + problem;
            fail("document " + std::to_string(number) + ", line " +
                 std::to_string(parser->problem_mark.line + 1) + ": YAML: " + problem);
        }
        yaml_node_t* root = yaml_document_get_root_node(&document);
        if (root == nullptr) { // the end of the stream
            yaml_document_delete(&document);
            break;
        }
        Node tree;
        try {
            tree = convert(&document, root, 0, number);
        } catch (...) {
            yaml_document_delete(&document);
            throw;
        }
        yaml_document_delete(&document);
        documents.push_back(std::move(tree));
    }
    return documents;
}

// ---------------------------------------------------------------------------------------------
// Reading the entity format.

std::string quoted(const std::string& text) {
    return "\"" + text + "\"";
}

// Where an error happened: the document's entity (or its number while it has no name yet),
// and the line.
struct Place {
    int document = 0;
    std::string entity;
    std::string field;

    std::string say(const Node& node) const {
        std::string out =
            entity.empty() ? "document " + std::to_string(document) : "entity " + quoted(entity);
        if (!field.empty())
            out += ", field " + quoted(field);
        return out + " (document " + std::to_string(document) + ", line " +
               std::to_string(node.line) + ")";
    }
};

void check_keys(const Node& mapping, const std::set<std::string>& known, const Place& place,
                const std::string& what) {
    for (const auto& member : mapping.members)
        if (known.count(member.first) == 0)
            fail(place.say(member.second) + ": key " + quoted(member.first) + " in " + what +
                 " cannot be mapped");
}

const Node& expect_mapping(const Node& node, const Place& place, const std::string& what) {
    if (node.kind != Node::Kind::Mapping)
        fail(place.say(node) + ": " + what + " must be a mapping");
    return node;
}

std::string scalar(const Node* node, const Place& place, const std::string& what) {
    if (node == nullptr || node->is_null())
        return {};
    if (node->kind != Node::Kind::Scalar)
        fail(place.say(*node) + ": " + what + " must be a single value");
    return node->text;
}

std::string required_scalar(const Node& parent, const char* key, const Place& place,
                            const std::string& what) {
    std::string value = scalar(parent.get(key), place, what);
    if (value.empty())
        fail(place.say(parent) + ": " + what + " is required");
    return value;
}

// YAML 1.1's booleans as the original's files write them.
bool boolean(const Node* node, bool fallback, const Place& place, const std::string& what) {
    if (node == nullptr || node->is_null())
        return fallback;
    if (node->kind == Node::Kind::Scalar && !node->quoted) {
        static const std::set<std::string> yes{"true", "True", "TRUE", "yes", "Yes", "YES"};
        static const std::set<std::string> no{"false", "False", "FALSE", "no", "No", "NO"};
        if (yes.count(node->text))
            return true;
        if (no.count(node->text))
            return false;
    }
    fail(place.say(*node) + ": " + what + " must be true or false");
}

std::vector<std::string> scalar_list(const Node* node, const Place& place,
                                     const std::string& what) {
    std::vector<std::string> out;
    if (node == nullptr || node->is_null())
        return out;
    if (node->kind != Node::Kind::Sequence)
        fail(place.say(*node) + ": " + what + " must be a list");
    for (const Node& item : node->items)
        out.push_back(scalar(&item, place, what));
    return out;
}

// A field as the import will define it.
struct DraftField {
    std::string name;
    std::string type; // as written: String, Integer, List[Object], numeric(15,2) ...
    bool nullable = true;
    std::string doc;
    std::string path;        // relative to the document or the element
    std::string from_parent; // or a field of the parent's row
    int line = 0;
};

struct Draft {
    int document = 0;
    int line = 0;
    std::string name;
    std::string table;
    std::string parent;
    std::string each;
    std::string doc;
    std::vector<DraftField> fields;
    std::vector<std::string> unique;
    std::vector<std::string> persisted; // field_overrides' order, empty when none are given
};

bool is_list_type(const std::string& type) {
    return type.rfind("List[", 0) == 0 || type == "List";
}

// The part of a transform's source list that says whose value it reads. A source is a name
// (`item`, the element's each_known_as) or a mapping {source: Order, field: order_key}.
struct SourceRef {
    std::string source;
    std::string field;
};

std::vector<SourceRef> read_sources(const Node* node, const Place& place) {
    std::vector<SourceRef> out;
    if (node == nullptr || node->is_null())
        return out;
    if (node->kind != Node::Kind::Sequence)
        fail(place.say(*node) + ": computed_from.sources must be a list");
    for (const Node& item : node->items) {
        if (item.kind == Node::Kind::Scalar) {
            out.push_back({item.text, {}});
        } else if (item.kind == Node::Kind::Mapping) {
            check_keys(item, {"source", "field"}, place, "a computed_from source");
            out.push_back({scalar(item.get("source"), place, "source"),
                           scalar(item.get("field"), place, "field")});
        } else {
            fail(place.say(item) + ": a computed_from source must be a name or "
                                   "{source: ..., field: ...}");
        }
    }
    return out;
}

// The original's json_get_int, json_get_optional_string, ...
bool is_json_getter(const std::string& transform) {
    static const std::set<std::string> kinds{"int",   "integer", "string",
                                             "float", "bool",    "boolean"};
    const std::string prefix = "json_get_";
    if (transform.rfind(prefix, 0) != 0)
        return false;
    std::string rest = transform.substr(prefix.size());
    if (rest.rfind("optional_", 0) == 0)
        rest = rest.substr(9);
    return kinds.count(rest) > 0;
}

// Fills `field`'s origin from its computed_from.
void map_transform(const Node& computed, DraftField& field, const Draft& draft,
                   const std::string& alias, const Place& place) {
    expect_mapping(computed, place, "computed_from");
    check_keys(computed, {"transform", "sources", "args"}, place, "computed_from");
    std::string transform =
        required_scalar(computed, "transform", place, "computed_from.transform");
    std::vector<SourceRef> sources = read_sources(computed.get("sources"), place);
    const Node* args = computed.get("args");
    if (args != nullptr && !args->is_null())
        expect_mapping(*args, place, "computed_from.args");
    auto arg = [&](const char* key) {
        return args == nullptr || args->is_null() ? std::string()
                                                  : scalar(args->get(key), place, key);
    };
    auto reads_parent = [&](const SourceRef& source) {
        return !draft.parent.empty() &&
               (source.source == draft.parent || source.source == "parent");
    };
    auto check_args = [&](const std::set<std::string>& known) {
        if (args != nullptr && !args->is_null())
            check_keys(*args, known, place, "computed_from.args of " + quoted(transform));
    };

    if (transform == "copy_field" || transform == "copy_from_parent") {
        check_args({});
        if (sources.size() != 1 || sources[0].field.empty())
            fail(place.say(computed) + ": transform " + quoted(transform) +
                 " needs one source {source: ..., field: ...}");
        if (reads_parent(sources[0])) {
            field.from_parent = sources[0].field;
        } else if (transform == "copy_field" && !alias.empty() && sources[0].source == alias) {
            field.path = sources[0].field;
        } else {
            fail(place.say(computed) + ": transform " + quoted(transform) + " copies from " +
                 quoted(sources[0].source) + ", which cannot be mapped (" +
                 (draft.parent.empty() ? std::string("a root entity has no parent")
                                       : "only the parent " + quoted(draft.parent) +
                                             " or the element can be copied from") +
                 ")");
        }
        return;
    }
    bool getter = is_json_getter(transform);
    if (getter || transform == "extract_field") {
        const char* key = getter ? "field" : "field_path";
        check_args({key});
        for (const SourceRef& source : sources)
            if (reads_parent(source))
                fail(place.say(computed) + ": transform " + quoted(transform) +
                     " reads the parent's document, which cannot be mapped (copy a parent "
                     "field with copy_field instead)");
        if (sources.size() > 1)
            fail(place.say(computed) + ": transform " + quoted(transform) +
                 " with more than one source cannot be mapped");
        field.path = arg(key);
        if (field.path.empty())
            fail(place.say(computed) + ": transform " + quoted(transform) + " needs args." + key);
        return;
    }
    fail(place.say(computed) + ": transform " + quoted(transform) +
         " cannot be mapped (a custom transform: write it as a SQL function and give the "
         "field \"function\" in define_entity)");
}

Draft read_entity(const Node& document, int number) {
    Place place{number, {}, {}};
    expect_mapping(document, place, "the document");
    check_keys(document, {"entity"}, place, "the document");
    const Node* entity_node = document.get("entity");
    if (entity_node == nullptr)
        fail(place.say(document) + ": expected a top-level \"entity\" mapping");
    const Node& entity = expect_mapping(*entity_node, place, "\"entity\"");
    Draft draft;
    draft.document = number;
    draft.line = entity.line;
    draft.name = required_scalar(entity, "name", place, "entity.name");
    place.entity = draft.name;
    if (!is_valid_entity_name(draft.name))
        fail(place.say(entity) + ": the name may only use letters, digits, '_' and '-'");
    check_keys(entity,
               {"name", "source_type", "type", "prefix", "doc", "parent", "repeated_for", "fields",
                "persistence"},
               place, "entity");
    std::string source_type = scalar(entity.get("source_type"), place, "source_type");
    std::string type = scalar(entity.get("type"), place, "type");
    if (!source_type.empty() && !type.empty() && source_type != type)
        fail(place.say(entity) + ": source_type " + quoted(source_type) + " and type " +
             quoted(type) + " disagree");
    std::string kind = source_type.empty() ? type : source_type;
    if (kind.empty())
        kind = entity.get("repeated_for") != nullptr ? "derived" : "root";
    if (kind != "root" && kind != "derived" && kind != "reference")
        fail(place.say(entity) + ": entity type " + quoted(kind) +
             " cannot be mapped (root, derived or reference)");
    draft.doc = scalar(entity.get("doc"), place, "doc");

    // parent + repeated_for: the newer {entity, field, each_known_as}, or the older
    // `parent: Order` with `repeated_for: line_items`.
    std::string alias;
    draft.parent = scalar(entity.get("parent"), place, "parent");
    if (const Node* repeated = entity.get("repeated_for");
        repeated != nullptr && !repeated->is_null()) {
        if (repeated->kind == Node::Kind::Mapping) {
            check_keys(*repeated, {"entity", "field", "each_known_as"}, place, "repeated_for");
            std::string parent = required_scalar(*repeated, "entity", place, "repeated_for.entity");
            if (!draft.parent.empty() && draft.parent != parent)
                fail(place.say(*repeated) + ": parent " + quoted(draft.parent) +
                     " and repeated_for.entity " + quoted(parent) + " disagree");
            draft.parent = parent;
            draft.each = required_scalar(*repeated, "field", place, "repeated_for.field");
            alias = scalar(repeated->get("each_known_as"), place, "each_known_as");
        } else {
            draft.each = scalar(repeated, place, "repeated_for");
        }
    }
    if (kind == "derived") {
        if (draft.parent.empty())
            fail(place.say(entity) + ": a derived entity needs a parent (repeated_for.entity "
                                     "or parent)");
        if (draft.each.empty())
            fail(place.say(entity) + ": a derived entity without repeated_for (one row for each "
                                     "parent) cannot be mapped: nomnom derives rows from the "
                                     "elements of a list");
    } else if (!draft.parent.empty() || !draft.each.empty()) {
        fail(place.say(entity) + ": a " + kind + " entity cannot have a parent or repeated_for");
    }

    const Node* fields = entity.get("fields");
    if (fields == nullptr || fields->kind != Node::Kind::Sequence)
        fail(place.say(fields != nullptr ? *fields : entity) + ": \"fields\" must be a list");
    for (const Node& item : fields->items) {
        Place field_place = place;
        expect_mapping(item, field_place, "a field");
        DraftField field;
        field.line = item.line;
        field.name = required_scalar(item, "name", field_place, "a field's name");
        field_place.field = field.name;
        check_keys(item,
                   {"name", "type", "nullable", "doc", "computed_from", "index", "primary_key"},
                   field_place, "the field");
        field.type = required_scalar(item, "type", field_place, "type");
        field.nullable = boolean(item.get("nullable"), true, field_place, "nullable");
        field.doc = scalar(item.get("doc"), field_place, "doc");
        if (boolean(item.get("primary_key"), false, field_place, "primary_key"))
            fail(field_place.say(item) + ": primary_key: true cannot be mapped (nomnom's tables "
                                         "have a generated \"id\" key; use unicity_fields)");
        if (boolean(item.get("index"), false, field_place, "index"))
            fail(field_place.say(item) + ": index: true cannot be mapped (create the index "
                                         "after the import)");
        if (const Node* computed = item.get("computed_from");
            computed != nullptr && !computed->is_null())
            map_transform(*computed, field, draft, alias, field_place);
        else
            field.path = field.name;
        draft.fields.push_back(field);
    }

    if (const Node* persistence = entity.get("persistence");
        persistence != nullptr && !persistence->is_null()) {
        expect_mapping(*persistence, place, "persistence");
        check_keys(*persistence, {"database", "primary_key", "field_overrides"}, place,
                   "persistence");
        if (const Node* database = persistence->get("database");
            database != nullptr && !database->is_null()) {
            expect_mapping(*database, place, "persistence.database");
            check_keys(*database,
                       {"conformant_table", "conformant_id_column", "unicity_fields",
                        "autogenerate_conformant_id", "legacy_table", "legacy_id_column",
                        "foreign_keys"},
                       place, "persistence.database");
            draft.table = scalar(database->get("conformant_table"), place, "conformant_table");
            std::string id =
                scalar(database->get("conformant_id_column"), place, "conformant_id_column");
            if (!id.empty() && id != "id")
                fail(place.say(*database) + ": conformant_id_column " + quoted(id) +
                     " cannot be mapped (nomnom's generated key column is \"id\")");
            for (const char* key : {"legacy_table", "legacy_id_column"})
                if (!scalar(database->get(key), place, key).empty())
                    fail(place.say(*database->get(key)) + ": " + key + " cannot be mapped");
            if (const Node* keys = database->get("foreign_keys");
                keys != nullptr && !keys->is_null() &&
                !(keys->kind == Node::Kind::Sequence && keys->items.empty()))
                fail(place.say(*keys) + ": foreign_keys cannot be mapped (add the constraint after "
                                        "the import)");
            draft.unique = scalar_list(database->get("unicity_fields"), place, "unicity_fields");
        }
        if (const Node* key = persistence->get("primary_key"); key != nullptr && !key->is_null()) {
            expect_mapping(*key, place, "persistence.primary_key");
            check_keys(*key, {"name", "type", "autogenerate"}, place, "persistence.primary_key");
            std::string name = scalar(key->get("name"), place, "primary_key.name");
            std::string key_type = scalar(key->get("type"), place, "primary_key.type");
            if ((!name.empty() && name != "id") ||
                !boolean(key->get("autogenerate"), true, place, "primary_key.autogenerate") ||
                (!key_type.empty() && key_type != "Integer" && key_type != "Long" &&
                 key_type != "int8" && key_type != "bigint"))
                fail(place.say(*key) + ": primary_key " + quoted(name.empty() ? "?" : name) +
                     " cannot be mapped (nomnom's tables have an autogenerated bigint \"id\")");
        }
        if (const Node* overrides = persistence->get("field_overrides");
            overrides != nullptr && !overrides->is_null()) {
            if (overrides->kind != Node::Kind::Sequence)
                fail(place.say(*overrides) + ": field_overrides must be a list");
            for (const Node& item : overrides->items) {
                Place field_place = place;
                expect_mapping(item, field_place, "a field override");
                std::string name = required_scalar(item, "name", field_place, "an override's name");
                field_place.field = name;
                check_keys(item,
                           {"name", "type", "nullable", "doc", "args", "index", "primary_key"},
                           field_place, "field_overrides");
                auto found = std::find_if(draft.fields.begin(), draft.fields.end(),
                                          [&](const DraftField& f) { return f.name == name; });
                if (found == draft.fields.end())
                    fail(field_place.say(item) + ": field_overrides names a field that is not "
                                                 "among the entity's fields");
                if (std::find(draft.persisted.begin(), draft.persisted.end(), name) !=
                    draft.persisted.end())
                    fail(field_place.say(item) + ": overridden twice");
                if (std::string t = scalar(item.get("type"), field_place, "type"); !t.empty())
                    found->type = t;
                found->nullable =
                    boolean(item.get("nullable"), found->nullable, field_place, "nullable");
                if (std::string d = scalar(item.get("doc"), field_place, "doc"); !d.empty())
                    found->doc = d;
                if (const Node* a = item.get("args");
                    a != nullptr && !a->is_null() &&
                    !(a->kind == Node::Kind::Sequence && a->items.empty()))
                    fail(field_place.say(*a) + ": type args cannot be mapped (give a PostgreSQL "
                                               "type such as varchar(20) as the type instead)");
                if (boolean(item.get("primary_key"), false, field_place, "primary_key"))
                    fail(field_place.say(item) + ": primary_key: true cannot be mapped");
                if (boolean(item.get("index"), false, field_place, "index"))
                    fail(field_place.say(item) + ": index: true cannot be mapped (create the "
                                                 "index after the import)");
                draft.persisted.push_back(name);
            }
        }
    }
    if (draft.table.empty())
        draft.table = snake_case(draft.name);
    return draft;
}

// What the catalog and the import say derives from a parent: (parent, list field) pairs.
std::set<std::pair<std::string, std::string>>
derivation_sources(const std::vector<Draft>& drafts, const std::vector<EntitySpec>& known) {
    std::set<std::pair<std::string, std::string>> out;
    for (const Draft& draft : drafts)
        if (!draft.parent.empty())
            out.emplace(draft.parent, draft.each);
    for (const EntitySpec& spec : known)
        if (!spec.is_root())
            out.emplace(spec.parent, spec.each_text);
    return out;
}

std::string to_spec_json(const Draft& draft,
                         const std::set<std::pair<std::string, std::string>>& feeds) {
    Place place{draft.document, draft.name, {}};
    JsonPtr root(new_json_object());
    json_object_set_new(root.get(), "name", json_string(draft.name.c_str()));
    json_object_set_new(root.get(), "table", json_string(draft.table.c_str()));
    if (!draft.parent.empty()) {
        json_object_set_new(root.get(), "parent", json_string(draft.parent.c_str()));
        json_object_set_new(root.get(), "each", json_string(draft.each.c_str()));
    }
    if (!draft.doc.empty())
        json_object_set_new(root.get(), "doc", json_string(draft.doc.c_str()));

    // The columns: field_overrides' fields when it gives any (the original persisted those),
    // else every field; a list that derived rows are made from is never a column.
    std::vector<const DraftField*> columns;
    if (!draft.persisted.empty()) {
        for (const std::string& name : draft.persisted)
            for (const DraftField& field : draft.fields)
                if (field.name == name)
                    columns.push_back(&field);
    } else {
        for (const DraftField& field : draft.fields)
            columns.push_back(&field);
    }
    bool linked = false;
    json_t* fields = json_array();
    json_object_set_new(root.get(), "fields", fields);
    for (const DraftField* field : columns) {
        if (is_list_type(field->type) && feeds.count({draft.name, field->path}))
            continue;
        json_t* item = new_json_object();
        json_object_set_new(item, "name", json_string(field->name.c_str()));
        // Lists that feed nothing, and objects, are kept whole as jsonb.
        std::string type = is_list_type(field->type) || field->type == "Object"
                               ? "jsonb"
                               : normalize_type_name(field->type);
        json_object_set_new(item, "type", json_string(type.c_str()));
        json_object_set_new(item, "nullable", json_boolean(field->nullable));
        if (!field->from_parent.empty()) {
            json_object_set_new(item, "from_parent", json_string(field->from_parent.c_str()));
            linked = true;
        } else {
            json_object_set_new(item, "path", json_string(field->path.c_str()));
        }
        if (!field->doc.empty())
            json_object_set_new(item, "doc", json_string(field->doc.c_str()));
        json_array_append_new(fields, item);
    }
    if (json_array_size(fields) == 0)
        fail("entity " + quoted(draft.name) + " (document " + std::to_string(draft.document) +
             "): no field is left to store");
    json_t* unique = json_array();
    for (const std::string& name : draft.unique) {
        bool stored = false;
        for (size_t i = 0; i < json_array_size(fields); ++i)
            stored = stored ||
                     name == json_string_value(json_object_get(json_array_get(fields, i), "name"));
        if (!stored)
            fail("entity " + quoted(draft.name) + " (document " + std::to_string(draft.document) +
                 "): unicity field " + quoted(name) + " is not a stored field");
        json_array_append_new(unique, json_string(name.c_str()));
    }
    json_object_set_new(root.get(), "unique", unique);
    json_object_set_new(root.get(), "on_conflict", json_string("update"));
    // replace needs a field linking each row to its parent row; without one (the original
    // had no such notion) rows are only added and updated.
    if (!draft.parent.empty())
        json_object_set_new(root.get(), "on_parent_update",
                            json_string(linked ? "replace" : "upsert"));
    return dump_json(root.get());
}

} // namespace

std::vector<ImportedEntity> translate_entity_yaml(const std::string& yaml,
                                                  const std::vector<EntitySpec>& known) {
    std::vector<Node> documents = load_documents(yaml);
    std::vector<Draft> drafts;
    int number = 0;
    for (const Node& document : documents) {
        ++number;
        if (document.is_null())
            continue; // an empty document (a "---" with nothing after it)
        drafts.push_back(read_entity(document, number));
    }
    if (drafts.empty())
        fail("the YAML text holds no entity");
    std::map<std::string, size_t> by_name;
    for (size_t i = 0; i < drafts.size(); ++i)
        if (!by_name.emplace(drafts[i].name, i).second)
            fail("entity " + quoted(drafts[i].name) + " is defined twice (documents " +
                 std::to_string(drafts[by_name[drafts[i].name]].document) + " and " +
                 std::to_string(drafts[i].document) + ")");
    auto feeds = derivation_sources(drafts, known);

    // Parents before children: a depth-first walk up each parent chain within the import.
    std::vector<ImportedEntity> out;
    std::vector<int> state(drafts.size(), 0); // 0 new, 1 on the walk, 2 done
    std::function<void(size_t)> visit = [&](size_t i) {
        if (state[i] == 2)
            return;
        if (state[i] == 1)
            fail("entity " + quoted(drafts[i].name) + ": its parent chain is a cycle");
        state[i] = 1;
        auto parent = by_name.find(drafts[i].parent);
        if (parent != by_name.end())
            visit(parent->second);
        out.push_back({drafts[i].name, to_spec_json(drafts[i], feeds), drafts[i].document});
        state[i] = 2;
    };
    for (size_t i = 0; i < drafts.size(); ++i)
        visit(i);
    return out;
}

} // namespace nomnom
