#include "nomnom/message_id.hpp"

#include <uuid/uuid.h>

namespace nomnom {
namespace {

// The namespace of nomnom's UUIDv5 ids: fixed and arbitrary. Changing it changes every
// derived id, so it never changes.
constexpr const char* kNomnomNamespace = "4e6f6d6e-6f6d-5a1e-9c3b-6d7e8f901a2b";

std::string unparse(const uuid_t id) {
    char text[37];
    uuid_unparse_lower(id, text);
    return text;
}

std::string uuid_v5(std::string_view name) {
    uuid_t ns;
    uuid_parse(kNomnomNamespace, ns);
    uuid_t out;
    uuid_generate_sha1(out, ns, name.data(), name.size());
    return unparse(out);
}

} // namespace

std::optional<std::string> parse_uuid(std::string_view text) {
    if (text.size() != 36)
        return std::nullopt;
    char buffer[37];
    text.copy(buffer, 36);
    buffer[36] = '\0';
    uuid_t id;
    if (uuid_parse(buffer, id) != 0)
        return std::nullopt;
    return unparse(id);
}

std::string message_uuid_from_id(std::string_view id) {
    if (auto parsed = parse_uuid(id))
        return *parsed;
    return uuid_v5(id);
}

std::string message_uuid_from_sequence(std::string_view stream, uint64_t sequence) {
    std::string name(stream);
    name += ':';
    name += std::to_string(sequence);
    return uuid_v5(name);
}

std::string random_uuid() {
    uuid_t id;
    uuid_generate_random(id);
    return unparse(id);
}

} // namespace nomnom
