// The bridge's DOM-free JSON check against the worker's parser (JsonDocument::parse): the
// same verdict, the same "is an object", the same top-level entity_type. The bridge must
// never answer 202 for a document the worker then dead-letters as invalid JSON, nor refuse
// one the worker would take.
#include "fuzz_common.hpp"
#include "json_check.hpp"
#include "nomnom/json_document.hpp"

using nomnom::JsonDocument;
using nomnom::JsonType;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input = as_text(data, size);
    bridge::JsonCheck checked = bridge::check_json(input);
    static JsonDocument doc;
    std::string error;
    bool parsed = doc.parse(input, error);
    std::string shown(input.substr(0, 200));
    if (parsed != checked.ok) {
        // The documented difference: JsonDocument refuses a zero with an exponent above 308
        // (0e309), which jansson, and so the check, accepts.
        bool known =
            checked.ok && error.find("Number too big to be stored in double") != std::string::npos;
        FUZZ_CHECK(known, "check " + std::string(checked.ok ? "accepts" : "refuses") + ", parse " +
                              (parsed ? "accepts" : "refuses: " + error) + ": " + shown);
        return 0;
    }
    if (!checked.ok) {
        FUZZ_CHECK(!checked.error.empty(), shown);
        return 0;
    }
    FUZZ_CHECK(checked.is_object == (doc.root()->type() == JsonType::Object), shown);
    std::string expected;
    if (checked.is_object) {
        const nomnom::JsonNode* type = doc.root()->member("entity_type");
        if (type != nullptr && type->type() == JsonType::String)
            expected = std::string(type->text());
    }
    FUZZ_CHECK(checked.entity_type == expected,
               "entity_type '" + checked.entity_type + "' vs '" + expected + "': " + shown);
    doc.trim(1 << 20);
    return 0;
}
