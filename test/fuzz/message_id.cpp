// Message-id parsing (Nats-Msg-Id, Nomnom-Message-Id, Idempotency-Key) against a reference:
// parse_uuid takes exactly the 8-4-4-4-12 hex form and gives it in lower case; every id
// becomes a canonical UUID (a UUID as itself, anything else a stable version 5 one); the
// message_uuid precedence holds.
#include "nomnom/message_id.hpp"
#include "fuzz_common.hpp"

#include <cctype>

using namespace nomnom;

namespace {

std::optional<std::string> reference_uuid(std::string_view t) {
    if (t.size() != 36)
        return std::nullopt;
    std::string out;
    for (size_t i = 0; i < 36; ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        unsigned char c = static_cast<unsigned char>(t[i]);
        if (dash ? c != '-' : !std::isxdigit(c))
            return std::nullopt;
        out += static_cast<char>(std::tolower(c));
    }
    return out;
}

bool canonical(const std::string& id) {
    auto parsed = reference_uuid(id);
    return parsed && *parsed == id;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text = as_text(data, size);
    std::string shown(text.substr(0, 80));
    std::optional<std::string> got = parse_uuid(text);
    std::optional<std::string> expected = reference_uuid(text);
    FUZZ_CHECK(got.has_value() == expected.has_value(),
               "parse_uuid " + std::string(got ? "accepts" : "refuses") + ": " + shown);
    if (got)
        FUZZ_CHECK(*got == *expected, *got);

    std::string id = message_uuid_from_id(text);
    FUZZ_CHECK(canonical(id), id);
    if (expected) {
        FUZZ_CHECK(id == *expected, id);
    } else {
        FUZZ_CHECK(id[14] == '5' &&
                       (id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b'),
                   "not a version 5 id: " + id);
        FUZZ_CHECK(message_uuid_from_id(text) == id, "not stable: " + shown);
    }

    // Headers as nats.c hands them over: C strings (up to a NUL byte).
    std::string header(text.substr(0, text.find('\0')));
    std::string from_headers = message_uuid("MESSAGES", size, header.c_str(), nullptr);
    FUZZ_CHECK(canonical(from_headers), from_headers);
    if (auto h = reference_uuid(header))
        FUZZ_CHECK(from_headers == *h, "Nomnom-Message-Id wins when it is a UUID");
    else
        FUZZ_CHECK(from_headers == message_uuid_from_sequence("MESSAGES", size),
                   "else the sequence's id");
    std::string from_nats = message_uuid("MESSAGES", size, nullptr, header.c_str());
    FUZZ_CHECK(from_nats == (header.empty() ? message_uuid_from_sequence("MESSAGES", size)
                                            : message_uuid_from_id(header)),
               "Nats-Msg-Id: " + header);
    return 0;
}
