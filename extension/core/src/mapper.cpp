#include "nomnom/mapper.hpp"

#include "nomnom/json_document.hpp"

#include <charconv>
#include <map>

namespace nomnom {
namespace {

constexpr const char* kInvalidJson = "22032";        // invalid_json_text
constexpr const char* kNotNullViolation = "23502";
constexpr const char* kInvalidText = "22P02";        // invalid_text_representation
constexpr size_t kKeptDocumentBytes = 1 << 20;       // a thread's parse buffers, at most
constexpr size_t kRowsReserved = 8;                  // an order and its line items, say
// What recycle keeps: rows (with their vectors) in the thread's pool (a document's arena
// blocks go to the thread's pool of them, Arena::reset). An order with its line items takes
// ~5 rows and ~3 KiB of arena.
constexpr size_t kKeptRows = 64;
constexpr size_t kKeptTextBytes = 8 << 10; // a document's text buffer

// Rows recycled on this thread, for the next ones it maps (see recycle).
std::vector<MappedRow>& spare_rows() {
    thread_local std::vector<MappedRow> rows;
    return rows;
}

struct MappingFailure {
    MappingError error;
};

[[noreturn]] void fail(const std::string& message, const char* sqlstate) {
    throw MappingFailure{MappingError{message, sqlstate}};
}

std::string entity_where(const EntitySpec& entity, const std::string& origin) {
    std::string out = "entity \"" + entity.name + "\"";
    if (!origin.empty())
        out += " (" + origin + ")";
    return out;
}

bool is_json_type(const std::string& type) {
    return type == "json" || type == "jsonb" || type == "pg_catalog.json" ||
           type == "pg_catalog.jsonb";
}

bool is_array_type(const std::string& type) {
    return type.size() > 2 && type.compare(type.size() - 2, 2, "[]") == 0;
}

using FieldTraits = EntityTree::FieldTraits;

// `base[index]`, e.g. line_items[1], built without temporaries: one a derived row.
std::string element_origin(const std::string& base, size_t index) {
    char digits[24];
    char* end = std::to_chars(digits, digits + sizeof digits, index).ptr;
    std::string origin;
    origin.reserve(base.size() + static_cast<size_t>(end - digits) + 2);
    origin += base;
    origin += '[';
    origin.append(digits, end);
    origin += ']';
    return origin;
}

const char* json_kind(const JsonNode* value) {
    switch (value->type()) {
    case JsonType::Object:
        return "an object";
    case JsonType::Array:
        return "an array";
    case JsonType::String:
        return "a string";
    case JsonType::Number:
        return "a number";
    case JsonType::True:
    case JsonType::False:
        return "a boolean";
    case JsonType::Null:
        return "null";
    }
    return "a value";
}

// A JSON array as a PostgreSQL array literal: {"a","b",NULL,{"c"}}.
// Recursive: a document nests at most 2048 deep (JsonDocument).
void write_array_literal(const JsonNode* array, std::string& out, const std::string& where) {
    out += '{';
    bool first = true;
    for (const JsonNode& element : array->children()) {
        if (!first)
            out += ',';
        first = false;
        switch (element.type()) {
        case JsonType::Null:
            out += "NULL";
            break;
        case JsonType::Array:
            write_array_literal(&element, out, where);
            break;
        case JsonType::Object:
            fail(where + ": an array element is an object, expected a scalar", kInvalidText);
        case JsonType::True:
        case JsonType::False:
            out += element.type() == JsonType::True ? "\"true\"" : "\"false\"";
            break;
        case JsonType::String:
        case JsonType::Number:
            out += '"';
            for (char c : element.text()) {
                if (c == '"' || c == '\\')
                    out += '\\';
                out += c;
            }
            out += '"';
            break;
        }
    }
    out += '}';
}

class Mapper {
  public:
    Mapper(const EntityTree& tree, const std::vector<std::vector<FieldTraits>>& traits,
           const MessageMeta& meta, MappedDocument& out)
        : tree_(tree), traits_(traits), meta_(meta), out_(out) {}

    void map_row(int entity_index, const JsonNode* context, int parent_row, std::string origin) {
        const EntitySpec& entity = tree_.entities[entity_index];
        if (!context->is_object())
            fail(entity_where(entity, origin) + ": expected a JSON object, got " +
                     json_kind(context),
                 kInvalidText);
        // Appended before its fields are filled (a failure recycles it with the others);
        // nothing else is appended until then, so the reference stays good.
        MappedRow& row = new_row();
        int row_index = static_cast<int>(out_.rows.size()) - 1;
        row.entity = entity_index;
        row.parent_row = parent_row;
        row.origin = std::move(origin);
        row.values.assign(entity.fields.size(), MappedValue());
        row.parent_id_fields.clear();
        next_member_ = nullptr;
        for (size_t i = 0; i < entity.fields.size(); ++i)
            row.values[i] = field_value(entity_index, row, static_cast<int>(i), context);

        for (int child_index : tree_.children[entity_index])
            map_children(child_index, context, row_index);
    }

  private:
    // A row at the end of the document's, a recycled one (its vectors' capacity) when the
    // thread has one.
    MappedRow& new_row() {
        std::vector<MappedRow>& spare = spare_rows();
        if (spare.empty())
            return out_.rows.emplace_back();
        out_.rows.push_back(std::move(spare.back()));
        spare.pop_back();
        return out_.rows.back();
    }

    void map_children(int child_index, const JsonNode* parent_context, int parent_row) {
        const EntitySpec& child = tree_.entities[child_index];
        const JsonNode* array = JsonDocument::find(parent_context, child.each);
        if (array == nullptr || array->is_null())
            return; // no elements: no derived rows
        const std::string& parent_origin = out_.rows[parent_row].origin;
        std::string base = parent_origin.empty() ? child.each_text
                                                 : parent_origin + "." + child.each_text;
        if (!array->is_array())
            fail("entity \"" + child.name + "\": \"" + base + "\" is " + json_kind(array) +
                     ", expected an array",
                 kInvalidText);
        size_t index = 0;
        for (const JsonNode& element : array->children())
            map_row(child_index, &element, parent_row, element_origin(base, index++));
    }

    // The field's member of `context`. A field named by one key (most are) is looked for
    // from the member after the last one found: fields usually come in document order.
    const JsonNode* find_member(const JsonNode* context, const FieldSpec& field) {
        if (field.path.size() != 1)
            return JsonDocument::find(context, field.path);
        const JsonNode* found = context->member(field.path[0], next_member_);
        if (found != nullptr)
            next_member_ = found->next();
        return found;
    }

    MappedValue field_value(int entity_index, MappedRow& row, int field_index,
                            const JsonNode* context) {
        const EntitySpec& entity = tree_.entities[entity_index];
        const FieldSpec& field = entity.fields[field_index];
        MappedValue value;
        if (!field.from_parent.empty()) {
            value = parent_value(entity, row, field_index);
        } else if (field.source != FieldSource::Document) {
            value = source_value(field.source);
        } else if (!field.function.empty()) {
            // The element (or document) whole: the function's argument, as jsonb.
            value = MappedValue(out_.arena.copy(JsonDocument::to_json(context)));
        } else {
            const JsonNode* found = find_member(context, field);
            if (found != nullptr && !found->is_null())
                value =
                    document_value(entity, row, field, traits_[entity_index][field_index], found);
        }
        bool filled_later = !row.parent_id_fields.empty() &&
                            row.parent_id_fields.back() == field_index;
        if (!value && !field.nullable && !filled_later)
            fail(describe_field(entity, row.origin, field) +
                     ": missing value for a non-nullable field",
                 kNotNullViolation);
        return value;
    }

    MappedValue parent_value(const EntitySpec& entity, MappedRow& row, int field_index) {
        const FieldSpec& field = entity.fields[field_index];
        const MappedRow& parent_row = out_.rows[row.parent_row];
        const EntitySpec& parent = tree_.entities[parent_row.entity];
        if (field.from_parent == "id") {
            row.parent_id_fields.push_back(field_index);
            return MappedValue();
        }
        for (size_t i = 0; i < parent.fields.size(); ++i)
            if (parent.fields[i].name == field.from_parent)
                return parent_row.values[i];
        fail(describe_field(entity, row.origin, field) + ": parent entity \"" + parent.name +
                 "\" has no field \"" + field.from_parent + "\"",
             "42703");
    }

    // A text kept in the document's arena; an empty text is NULL.
    MappedValue kept_or_null(std::string_view text) {
        return text.empty() ? MappedValue() : MappedValue(out_.arena.copy(text));
    }

    MappedValue source_value(FieldSource source) {
        switch (source) {
        case FieldSource::MessageId:
            return kept_or_null(meta_.message_id);
        case FieldSource::Subject:
            return kept_or_null(meta_.subject);
        case FieldSource::StreamSeq:
            return meta_.stream_seq ? kept_or_null(std::to_string(*meta_.stream_seq))
                                    : MappedValue();
        case FieldSource::ReceivedAt:
            return kept_or_null(meta_.received_at);
        case FieldSource::Document:
            break;
        }
        return MappedValue();
    }

    MappedValue document_value(const EntitySpec& entity, const MappedRow& row,
                               const FieldSpec& field, FieldTraits traits, const JsonNode* value) {
        if (traits.json)
            return MappedValue(out_.arena.copy(JsonDocument::to_json(value)));
        switch (value->type()) {
        case JsonType::String:
        case JsonType::Number: // the common case: the text where it stands in out_.text
            return MappedValue(value->text());
        case JsonType::True:
            return MappedValue("true");
        case JsonType::False:
            return MappedValue("false");
        case JsonType::Array:
            if (traits.array) {
                std::string literal;
                write_array_literal(value, literal, describe_field(entity, row.origin, field));
                return MappedValue(out_.arena.copy(literal));
            }
            break;
        case JsonType::Object:
            break;
        case JsonType::Null: // not asked for: a null field is NULL
            return MappedValue();
        }
        fail(describe_field(entity, row.origin, field) + ": expected a value of type " +
                 field.type + ", got " + json_kind(value),
             kInvalidText);
    }

    const EntityTree& tree_;
    const std::vector<std::vector<FieldTraits>>& traits_;
    const MessageMeta& meta_;
    MappedDocument& out_;
    const JsonNode* next_member_ = nullptr; // of the row being mapped: see find_member
};

std::vector<std::vector<FieldTraits>> traits_of(const std::vector<EntitySpec>& entities) {
    std::vector<std::vector<FieldTraits>> traits(entities.size());
    for (size_t e = 0; e < entities.size(); ++e)
        for (const FieldSpec& field : entities[e].fields)
            traits[e].push_back(FieldTraits{is_json_type(field.type), is_array_type(field.type)});
    return traits;
}

bool traits_fit(const EntityTree& tree) {
    if (tree.field_traits.size() != tree.entities.size())
        return false;
    for (size_t e = 0; e < tree.entities.size(); ++e)
        if (tree.field_traits[e].size() != tree.entities[e].fields.size())
            return false;
    return true;
}

} // namespace

std::string describe_field(const EntitySpec& entity, const std::string& origin,
                           const FieldSpec& field) {
    std::string out = entity_where(entity, origin) + ", field \"" + field.name + "\"";
    if (!field.from_parent.empty())
        out += " (from parent field \"" + field.from_parent + "\")";
    else if (field.source != FieldSource::Document)
        out += std::string(" (source ") + to_string(field.source) + ")";
    else if (!field.function.empty())
        out += " (function \"" + field.function + "\")";
    else
        out += " (path \"" + field.path_text + "\")";
    return out;
}

EntityTree EntityTree::build(const std::vector<EntitySpec>& all, const std::string& root) {
    std::map<std::string, const EntitySpec*> by_name;
    for (const EntitySpec& spec : all)
        by_name[spec.name] = &spec;
    auto found = by_name.find(root);
    if (found == by_name.end())
        throw SpecError("unknown entity \"" + root + "\"", "42704");
    if (!found->second->is_root())
        throw SpecError("entity \"" + root + "\" is derived from \"" + found->second->parent +
                            "\": ingest documents of its root entity instead",
                        "22023");
    EntityTree tree;
    tree.entities.push_back(*found->second);
    tree.parent.push_back(-1);
    tree.children.emplace_back();
    // Breadth-first over the specs: each pass adds the children of entities already in.
    for (size_t next = 0; next < tree.entities.size(); ++next) {
        const std::string parent_name = tree.entities[next].name;
        for (const EntitySpec& spec : all) {
            if (spec.parent != parent_name)
                continue;
            if (tree.entities.size() > all.size())
                throw SpecError("entity \"" + spec.name + "\" is part of a parent cycle", "42P17");
            tree.entities.push_back(spec);
            tree.parent.push_back(static_cast<int>(next));
            tree.children.emplace_back();
            tree.children[next].push_back(static_cast<int>(tree.entities.size()) - 1);
        }
    }
    tree.field_traits = traits_of(tree.entities);
    return tree;
}

void recycle(MappedDocument& doc) {
    std::vector<MappedRow>& spare = spare_rows();
    if (spare.capacity() < kKeptRows)
        spare.reserve(kKeptRows); // once a thread: no growth, no allocation below
    for (MappedRow& row : doc.rows) {
        if (spare.size() >= kKeptRows)
            break;
        spare.push_back(std::move(row));
    }
    doc.rows.clear();
    if (doc.rows.capacity() > kKeptRows) // a huge document's
        std::vector<MappedRow>().swap(doc.rows);
    doc.arena.reset();
    doc.text.trim(kKeptTextBytes);
}

bool map_document(const EntityTree& tree, std::string_view body, const MessageMeta& meta,
                  MappedDocument& out, MappingError& error) {
    recycle(out);
    out.rows.reserve(kRowsReserved);
    // One document a thread, parsed into again and again: its buffers outlive the call.
    thread_local JsonDocument doc;
    struct Trim {
        ~Trim() { doc.trim(kKeptDocumentBytes); }
    } trim_on_return;
    std::string parse_error;
    // Parsed in out's own copy of the text, which its values then point into.
    if (!doc.parse(body, parse_error, out.text)) {
        error = MappingError{"entity \"" + tree.entities[0].name +
                                 "\": the document is not valid JSON: " + parse_error,
                             kInvalidJson};
        return false;
    }
    // A tree assembled or changed after build() may lack its traits.
    std::vector<std::vector<FieldTraits>> own_traits;
    bool fit = traits_fit(tree);
    if (!fit)
        own_traits = traits_of(tree.entities);
    const auto& traits = fit ? tree.field_traits : own_traits;
    try {
        Mapper(tree, traits, meta, out).map_row(0, doc.root(), -1, "");
    } catch (const MappingFailure& failure) {
        error = failure.error;
        recycle(out);
        return false;
    }
    return true;
}

} // namespace nomnom
