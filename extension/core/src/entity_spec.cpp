#include "nomnom/entity_spec.hpp"

#include "nomnom/json_ptr.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace nomnom {
namespace {

// SQLSTATEs used for spec problems.
constexpr const char* kInvalidParameter = "22023";
constexpr const char* kDuplicateColumn = "42701";
constexpr const char* kUndefinedColumn = "42703";

[[noreturn]] void fail(const std::string& message, const char* sqlstate = kInvalidParameter) {
    throw SpecError(message, sqlstate);
}

std::string entity_label(const std::string& name) {
    return name.empty() ? std::string("entity spec") : "entity \"" + name + "\"";
}

// Reads an optional string member; fails when present but not a string.
std::string optional_string(json_t* object, const char* key, const std::string& where) {
    json_t* value = json_object_get(object, key);
    if (value == nullptr || json_is_null(value))
        return {};
    if (!json_is_string(value))
        fail(where + ": \"" + key + "\" must be a string");
    return std::string(json_string_value(value), json_string_length(value));
}

bool optional_bool(json_t* object, const char* key, bool fallback, const std::string& where) {
    json_t* value = json_object_get(object, key);
    if (value == nullptr || json_is_null(value))
        return fallback;
    if (!json_is_boolean(value))
        fail(where + ": \"" + key + "\" must be true or false");
    return json_is_true(value);
}

void reject_unknown_keys(json_t* object, const std::set<std::string>& known,
                         const std::string& where) {
    const char* key;
    json_t* value;
    json_object_foreach(object, key, value) {
        if (known.count(key) == 0)
            fail(where + ": unknown key \"" + key + "\"");
    }
}

FieldSource parse_source(const std::string& text, const std::string& where) {
    if (text.empty())
        return FieldSource::Document;
    if (text == "message_id")
        return FieldSource::MessageId;
    if (text == "subject")
        return FieldSource::Subject;
    if (text == "stream_seq")
        return FieldSource::StreamSeq;
    if (text == "received_at")
        return FieldSource::ReceivedAt;
    fail(where + ": unknown source \"" + text +
         "\" (expected message_id, subject, stream_seq or received_at)");
}

FieldSpec parse_field(json_t* field, const std::string& entity_where, size_t index) {
    std::string where = entity_where + ", field #" + std::to_string(index + 1);
    if (!json_is_object(field))
        fail(where + ": must be an object");
    reject_unknown_keys(
        field, {"name", "type", "path", "nullable", "from_parent", "source", "doc", "function"},
        where);
    FieldSpec spec;
    spec.name = optional_string(field, "name", where);
    if (spec.name.empty())
        fail(where + ": \"name\" is required");
    where = entity_where + ", field \"" + spec.name + "\"";
    std::string type = optional_string(field, "type", where);
    if (type.empty())
        fail(where + ": \"type\" is required");
    spec.type = normalize_type_name(type);
    spec.nullable = optional_bool(field, "nullable", true, where);
    spec.from_parent = optional_string(field, "from_parent", where);
    spec.source = parse_source(optional_string(field, "source", where), where);
    spec.path_text = optional_string(field, "path", where);
    spec.doc = optional_string(field, "doc", where);
    spec.function = optional_string(field, "function", where);
    int origins = (spec.path_text.empty() ? 0 : 1) + (spec.from_parent.empty() ? 0 : 1) +
                  (spec.source == FieldSource::Document ? 0 : 1) + (spec.function.empty() ? 0 : 1);
    if (origins > 1)
        fail(where + ": give only one of \"path\", \"from_parent\", \"source\" and \"function\"");
    if (!spec.function.empty()) {
        std::vector<std::string> parts = split_path(spec.function, where + ": function");
        if (parts.size() > 2)
            fail(where + ": function \"" + spec.function + "\" must be fn or schema.fn");
    } else if (spec.from_parent.empty() && spec.source == FieldSource::Document) {
        if (spec.path_text.empty())
            spec.path_text = spec.name;
        spec.path = split_path(spec.path_text, where + ": path");
    }
    return spec;
}

OnConflict parse_on_conflict(const std::string& text, const std::string& where) {
    if (text.empty() || text == "update")
        return OnConflict::Update;
    if (text == "ignore")
        return OnConflict::Ignore;
    if (text == "error")
        return OnConflict::Error;
    fail(where + ": \"on_conflict\" must be update, ignore or error, not \"" + text + "\"");
}

OnParentUpdate parse_on_parent_update(const std::string& text, const std::string& where) {
    if (text.empty() || text == "replace")
        return OnParentUpdate::Replace;
    if (text == "upsert")
        return OnParentUpdate::Upsert;
    fail(where + ": \"on_parent_update\" must be replace or upsert, not \"" + text + "\"");
}

void check_fields(const EntitySpec& spec, const std::string& where) {
    if (spec.fields.empty())
        fail(where + ": \"fields\" must list at least one field");
    std::set<std::string> seen;
    for (const FieldSpec& field : spec.fields) {
        if (field.name == "id")
            fail(where + ": field name \"id\" is reserved for the generated primary key",
                 kDuplicateColumn);
        if (!seen.insert(field.name).second)
            fail(where + ": duplicate field \"" + field.name + "\"", kDuplicateColumn);
        if (!field.function.empty() &&
            std::find(spec.unique.begin(), spec.unique.end(), field.name) != spec.unique.end())
            fail(where + ": unique field \"" + field.name +
                 "\" is computed by a function, which a unique key cannot use");
        if (!field.from_parent.empty() && spec.is_root())
            fail(where + ", field \"" + field.name +
                 "\": \"from_parent\" needs a \"parent\" entity");
    }
    std::set<std::string> unique_seen;
    for (const std::string& name : spec.unique) {
        if (seen.count(name) == 0)
            fail(where + ": unique field \"" + name + "\" is not among the fields",
                 kUndefinedColumn);
        if (!unique_seen.insert(name).second)
            fail(where + ": unique field \"" + name + "\" is listed twice", kDuplicateColumn);
    }
}

} // namespace

const FieldSpec* EntitySpec::find_field(const std::string& field_name) const {
    for (const FieldSpec& field : fields)
        if (field.name == field_name)
            return &field;
    return nullptr;
}

int EntitySpec::parent_field_index(const std::string& from_parent) const {
    for (size_t i = 0; i < fields.size(); ++i)
        if (fields[i].name == from_parent)
            return static_cast<int>(i);
    return from_parent == "id" ? kParentId : kNoParentField;
}

std::vector<std::string> split_path(const std::string& path, const std::string& what) {
    std::vector<std::string> segments;
    size_t start = 0;
    while (true) {
        size_t dot = path.find('.', start);
        std::string segment = path.substr(start, dot == std::string::npos ? dot : dot - start);
        if (segment.empty())
            fail(what + " \"" + path + "\" has an empty segment");
        segments.push_back(segment);
        if (dot == std::string::npos)
            break;
        start = dot + 1;
    }
    return segments;
}

bool is_valid_entity_name(const std::string& name) {
    if (name.empty() || name.size() > 63)
        return false;
    return std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-';
    });
}

std::string snake_case(const std::string& name) {
    std::string out;
    for (size_t i = 0; i < name.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(name[i]);
        if (std::isupper(c)) {
            bool after_lower = i > 0 && (std::islower(static_cast<unsigned char>(name[i - 1])) ||
                                         std::isdigit(static_cast<unsigned char>(name[i - 1])));
            bool before_lower =
                i > 0 && i + 1 < name.size() &&
                std::isupper(static_cast<unsigned char>(name[i - 1])) &&
                std::islower(static_cast<unsigned char>(name[i + 1]));
            if (after_lower || before_lower)
                out += '_';
            out += static_cast<char>(std::tolower(c));
        } else {
            out += c == '-' ? '_' : static_cast<char>(c);
        }
    }
    return out;
}

std::string normalize_type_name(const std::string& type) {
    if (type == "String")
        return "text";
    if (type == "Integer")
        return "int8";
    if (type == "Float")
        return "float8";
    if (type == "Boolean")
        return "bool";
    return type;
}

EntitySpec parse_entity_spec(const std::string& json_text) {
    json_error_t error;
    JsonPtr root(json_loadb(json_text.data(), json_text.size(), JSON_REJECT_DUPLICATES, &error));
    if (!root)
        fail(std::string("entity spec is not valid JSON: ") + error.text);
    if (!json_is_object(root.get()))
        fail("entity spec must be a JSON object");

    EntitySpec spec;
    spec.name = optional_string(root.get(), "name", "entity spec");
    if (spec.name.empty())
        fail("entity spec: \"name\" is required");
    const std::string where = entity_label(spec.name);
    if (!is_valid_entity_name(spec.name))
        fail(where + ": the name may only use letters, digits, '_' and '-' (it is a subject token)");
    reject_unknown_keys(root.get(),
                        {"name", "table", "parent", "each", "fields", "unique", "on_conflict",
                         "on_parent_update", "doc"},
                        where);
    spec.table = optional_string(root.get(), "table", where);
    spec.doc = optional_string(root.get(), "doc", where);
    if (spec.table.empty())
        spec.table = snake_case(spec.name);
    spec.parent = optional_string(root.get(), "parent", where);
    spec.each_text = optional_string(root.get(), "each", where);
    if (!spec.parent.empty() && spec.each_text.empty())
        fail(where + ": a derived entity (with \"parent\") needs \"each\", the path of the "
                     "array it is derived from");
    if (spec.parent.empty() && !spec.each_text.empty())
        fail(where + ": \"each\" needs a \"parent\" entity");
    if (spec.parent == spec.name)
        fail(where + ": an entity cannot be its own parent (a cycle)", "42P17");
    if (!spec.each_text.empty())
        spec.each = split_path(spec.each_text, where + ": each path");

    json_t* fields = json_object_get(root.get(), "fields");
    if (fields == nullptr || !json_is_array(fields))
        fail(where + ": \"fields\" must be an array");
    size_t index;
    json_t* field;
    json_array_foreach(fields, index, field) { spec.fields.push_back(parse_field(field, where, index)); }

    json_t* unique = json_object_get(root.get(), "unique");
    if (unique != nullptr && !json_is_null(unique)) {
        if (!json_is_array(unique))
            fail(where + ": \"unique\" must be an array of field names");
        json_t* item;
        json_array_foreach(unique, index, item) {
            if (!json_is_string(item))
                fail(where + ": \"unique\" must be an array of field names");
            spec.unique.emplace_back(json_string_value(item));
        }
    }
    spec.on_conflict = parse_on_conflict(optional_string(root.get(), "on_conflict", where), where);
    std::string on_parent_update = optional_string(root.get(), "on_parent_update", where);
    if (!on_parent_update.empty() && spec.is_root())
        fail(where + ": \"on_parent_update\" applies only to derived entities");
    spec.on_parent_update = parse_on_parent_update(on_parent_update, where);
    check_fields(spec, where);
    return spec;
}

const char* to_string(OnConflict value) {
    switch (value) {
    case OnConflict::Update:
        return "update";
    case OnConflict::Ignore:
        return "ignore";
    case OnConflict::Error:
        return "error";
    }
    return "update";
}

const char* to_string(OnParentUpdate value) {
    return value == OnParentUpdate::Upsert ? "upsert" : "replace";
}

const char* to_string(FieldSource value) {
    switch (value) {
    case FieldSource::MessageId:
        return "message_id";
    case FieldSource::Subject:
        return "subject";
    case FieldSource::StreamSeq:
        return "stream_seq";
    case FieldSource::ReceivedAt:
        return "received_at";
    case FieldSource::Document:
        break;
    }
    return "document";
}

std::string EntitySpec::to_json() const {
    JsonPtr root(new_json_object());
    json_object_set_new(root.get(), "name", json_string(name.c_str()));
    json_object_set_new(root.get(), "table", json_string(table.c_str()));
    if (!is_root()) {
        json_object_set_new(root.get(), "parent", json_string(parent.c_str()));
        json_object_set_new(root.get(), "each", json_string(each_text.c_str()));
        json_object_set_new(root.get(), "on_parent_update",
                            json_string(to_string(on_parent_update)));
    }
    json_t* field_array = json_array();
    for (const FieldSpec& field : fields) {
        json_t* item = new_json_object();
        json_object_set_new(item, "name", json_string(field.name.c_str()));
        json_object_set_new(item, "type", json_string(field.type.c_str()));
        json_object_set_new(item, "nullable", json_boolean(field.nullable));
        if (!field.from_parent.empty())
            json_object_set_new(item, "from_parent", json_string(field.from_parent.c_str()));
        else if (field.source != FieldSource::Document)
            json_object_set_new(item, "source", json_string(to_string(field.source)));
        else if (!field.function.empty())
            json_object_set_new(item, "function", json_string(field.function.c_str()));
        else
            json_object_set_new(item, "path", json_string(field.path_text.c_str()));
        if (!field.doc.empty())
            json_object_set_new(item, "doc", json_string(field.doc.c_str()));
        json_array_append_new(field_array, item);
    }
    json_object_set_new(root.get(), "fields", field_array);
    json_t* unique_array = json_array();
    for (const std::string& name_in_key : unique)
        json_array_append_new(unique_array, json_string(name_in_key.c_str()));
    json_object_set_new(root.get(), "unique", unique_array);
    json_object_set_new(root.get(), "on_conflict", json_string(to_string(on_conflict)));
    if (!doc.empty())
        json_object_set_new(root.get(), "doc", json_string(doc.c_str()));
    return dump_json(root.get());
}

} // namespace nomnom
