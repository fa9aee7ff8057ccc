// JsonDocument::parse on any bytes, against jansson (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY
// | JSON_DECODE_INT_AS_REAL), which it promises to match (json_document.hpp): the same
// verdict, and for an accepted text the same tree. A compact re-serialisation parses again
// to the same text.
#include "nomnom/json_document.hpp"
#include "fuzz_common.hpp"

#include <jansson.h>

#include <cstring>

using nomnom::JsonDocument;
using nomnom::JsonNode;
using nomnom::JsonType;

namespace {

// The same tree: types, keys in document order, strings byte for byte.
void same_tree(const JsonNode* ours, const json_t* theirs, const std::string& input) {
    switch (ours->type()) {
    case JsonType::Null:
        FUZZ_CHECK(json_is_null(theirs), input);
        break;
    case JsonType::True:
        FUZZ_CHECK(json_is_true(theirs), input);
        break;
    case JsonType::False:
        FUZZ_CHECK(json_is_false(theirs), input);
        break;
    case JsonType::Number:
        FUZZ_CHECK(json_is_number(theirs), input);
        break;
    case JsonType::String:
        FUZZ_CHECK(json_is_string(theirs), input);
        FUZZ_CHECK(ours->text() ==
                       std::string_view(json_string_value(theirs), json_string_length(theirs)),
                   input);
        break;
    case JsonType::Array: {
        FUZZ_CHECK(json_is_array(theirs) && json_array_size(theirs) == ours->size(), input);
        size_t i = 0;
        for (const JsonNode& child : ours->children())
            same_tree(&child, json_array_get(theirs, i++), input);
        break;
    }
    case JsonType::Object: {
        FUZZ_CHECK(json_is_object(theirs) && json_object_size(theirs) == ours->size(), input);
        for (const JsonNode& member : ours->children()) {
            std::string key(member.key());
            const json_t* value = json_object_getn(theirs, key.data(), key.size());
            FUZZ_CHECK(value != nullptr, input + " key " + key);
            same_tree(&member, value, input);
        }
        break;
    }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string input(reinterpret_cast<const char*>(data), size);
    static JsonDocument doc; // reused, as map_document reuses one a thread
    std::string error;
    bool ours = doc.parse(input, error);
    json_error_t jerror;
    json_t* theirs =
        json_loadb(input.data(), input.size(),
                   JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerror);
    if (!ours) {
        FUZZ_CHECK(!error.empty(), input);
        // The documented difference: a zero with an exponent above 308 (0e309). And jansson's
        // reader skips a raw NUL byte in places (its buffer is NUL-terminated: `2\0}` reads as
        // `2}`); JSON allows a raw NUL nowhere, and JsonDocument refuses it everywhere.
        bool known = theirs != nullptr &&
                     (error.find("Number too big to be stored in double") != std::string::npos ||
                      input.find('\0') != std::string::npos);
        FUZZ_CHECK(theirs == nullptr || known, "jansson accepts, we refuse: " + error);
    } else {
        FUZZ_CHECK(input.find('\0') == std::string::npos, "accepted a raw NUL byte");
        FUZZ_CHECK(theirs != nullptr, "we accept, jansson refuses: " + std::string(jerror.text));
        same_tree(doc.root(), theirs, input);
        std::string compact = JsonDocument::to_json(doc.root());
        JsonDocument again;
        FUZZ_CHECK(again.parse(compact, error), "to_json does not parse again: " + compact);
        FUZZ_CHECK(JsonDocument::to_json(again.root()) == compact, compact);
    }
    json_decref(theirs);
    doc.trim(1 << 20);
    return 0;
}
