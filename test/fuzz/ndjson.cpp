// The bridge's NDJSON splitting against a plain reference (split on '\n', drop one '\r'
// at the end, skip lines of spaces, tabs and '\r' only, count every line), and its line cap:
// a capped split is the first max_lines + 1 lines of the whole one.
#include "fuzz_common.hpp"
#include "routing.hpp"

#include <vector>

using bridge::NdjsonLine;

namespace {

std::vector<std::pair<size_t, std::string>> reference(std::string_view body) {
    std::vector<std::pair<size_t, std::string>> out;
    std::string line;
    size_t number = 0;
    auto flush = [&] {
        ++number;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.find_first_not_of(" \t\r") != std::string::npos)
            out.emplace_back(number, line);
        line.clear();
    };
    for (size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '\n')
            flush();
        else
            line += body[i];
    }
    if (!line.empty())
        flush();
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0)
        return 0;
    size_t cap = data[0] % 8;
    std::string_view body = as_text(data + 1, size - 1);
    std::vector<NdjsonLine> lines = bridge::split_ndjson(body);
    auto expected = reference(body);
    FUZZ_CHECK(lines.size() == expected.size(),
               std::to_string(lines.size()) + " lines, not " + std::to_string(expected.size()));
    for (size_t i = 0; i < lines.size(); ++i) {
        FUZZ_CHECK(lines[i].number == expected[i].first, "line number");
        FUZZ_CHECK(lines[i].text == expected[i].second, std::string(lines[i].text));
        // A view into the body, as the publisher sends those bytes.
        FUZZ_CHECK(lines[i].text.data() >= body.data() &&
                       lines[i].text.data() + lines[i].text.size() <= body.data() + body.size(),
                   "a line outside the body");
    }
    std::vector<NdjsonLine> capped = bridge::split_ndjson(body, cap);
    FUZZ_CHECK(capped.size() == std::min(lines.size(), cap + 1), "capped count");
    for (size_t i = 0; i < capped.size(); ++i)
        FUZZ_CHECK(capped[i].number == lines[i].number && capped[i].text == lines[i].text,
                   "a capped split is a prefix");
    return 0;
}
