// The bridge's PubAck reader (bridge/src/pub_ack.hpp) against jansson: for any input jansson
// reads as JSON (duplicate keys refused, as nats-server never writes them), the same verdict
// and the same stream, sequence, duplicate flag and error fields. The reader is ours rather
// than jansson's because jansson costs ~8.8k instructions an answer against its ~1.2k
// (bench/README item 40), more than the whole saving of the bridge's own publish.
#include <jansson.h>

#include <memory>

#include "fuzz_common.hpp"
#include "pub_ack.hpp"

namespace {

using JsonPtr = std::unique_ptr<json_t, decltype(&json_decref)>;

// Containers nested in `value`, itself counted.
int depth(json_t* value) {
    int deepest = 0;
    if (json_is_object(value)) {
        const char* key;
        json_t* member;
        json_object_foreach(value, key, member) deepest = std::max(deepest, depth(member));
    } else if (json_is_array(value)) {
        size_t i;
        json_t* item;
        json_array_foreach(value, i, item) deepest = std::max(deepest, depth(item));
    } else {
        return 0;
    }
    return deepest + 1;
}

std::string text_of(json_t* value) {
    return value != nullptr && json_is_string(value)
               ? std::string(json_string_value(value), json_string_length(value))
               : std::string();
}

bool int_or_absent(json_t* object, const char* key, int* out) {
    json_t* value = json_object_get(object, key);
    if (value == nullptr)
        return true;
    if (!json_is_integer(value))
        return false;
    *out = static_cast<int>(json_integer_value(value));
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input = as_text(data, size);
    bridge::PubAck ack;
    std::string error;
    bool read = bridge::parse_pub_ack(input, ack, error);
    std::string shown(input.substr(0, 200));
    FUZZ_CHECK(read || !error.empty(), "a refusal without a reason: " + shown);

    json_error_t jerror;
    JsonPtr root(json_loadb(input.data(), input.size(), JSON_REJECT_DUPLICATES, &jerror),
                 json_decref);
    // Where the two may differ by design: text that is not JSON (the reader skips unknown
    // fields without validating them), \u escapes (kept as written: JetStream's texts are
    // ASCII), a raw NUL (jansson skips it in places), nesting deeper than the reader's 16 in
    // a skipped field.
    if (!root || input.find("\\u") != std::string_view::npos ||
        input.find('\0') != std::string_view::npos || depth(root.get()) > 17)
        return 0;

    json_t* obj = root.get();
    json_t* stream = json_is_object(obj) ? json_object_get(obj, "stream") : nullptr;
    json_t* seq = json_is_object(obj) ? json_object_get(obj, "seq") : nullptr;
    json_t* dup = json_is_object(obj) ? json_object_get(obj, "duplicate") : nullptr;
    json_t* err = json_is_object(obj) ? json_object_get(obj, "error") : nullptr;
    bool expected = json_is_object(obj) && (stream == nullptr || json_is_string(stream)) &&
                    (seq == nullptr || (json_is_integer(seq) && json_integer_value(seq) >= 0)) &&
                    (dup == nullptr || json_is_boolean(dup)) &&
                    (err == nullptr || json_is_object(err));
    int code = 0, err_code = 0;
    json_t* description = err != nullptr ? json_object_get(err, "description") : nullptr;
    if (expected && err != nullptr)
        expected = int_or_absent(err, "code", &code) && int_or_absent(err, "err_code", &err_code) &&
                   (description == nullptr || json_is_string(description));
    if (expected && err == nullptr)
        expected = !text_of(stream).empty() && seq != nullptr;
    FUZZ_CHECK(read == expected, std::string(read ? "read" : "refused: " + error) + ": " + shown);
    if (!read)
        return 0;
    FUZZ_CHECK(ack.stream == text_of(stream), "stream '" + ack.stream + "': " + shown);
    FUZZ_CHECK(ack.has_seq == (seq != nullptr), shown);
    FUZZ_CHECK(seq == nullptr || ack.seq == static_cast<uint64_t>(json_integer_value(seq)), shown);
    FUZZ_CHECK(ack.duplicate == (dup != nullptr && json_is_true(dup)), shown);
    FUZZ_CHECK(ack.is_error == (err != nullptr), shown);
    FUZZ_CHECK(ack.code == code && ack.err_code == err_code, shown);
    FUZZ_CHECK(ack.description == text_of(description), shown);
    return 0;
}
