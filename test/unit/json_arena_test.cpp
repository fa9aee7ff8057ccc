// The arena serves jansson, which the extension still uses for entity specs and stream
// options (documents are parsed by JsonDocument, which does not use jansson).
#include "nomnom/json_arena.hpp"
#include "nomnom/json_ptr.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace nomnom;

namespace {

JsonPtr load(const std::string& text) {
    json_error_t error;
    return JsonPtr(json_loadb(text.data(), text.size(), 0, &error));
}

std::string string_at(const JsonPtr& root, const char* key) {
    return json_string_value(json_object_get(root.get(), key));
}

} // namespace

TEST(JsonArena, RewindsWhenEveryDocumentIsGone) {
    use_json_arena();
    std::string json = R"({"order_key": "K", "line_items": [)";
    for (int i = 0; i < 50; ++i)
        json += (i ? "," : "") + std::string(R"({"n": )") + std::to_string(i) + R"(, "p": 1.25})";
    json += "]}";
    {
        JsonPtr first = load(json);
        ASSERT_TRUE(first);
    }
    size_t after_first = json_arena_capacity();
    EXPECT_GT(after_first, 0u);
    for (int round = 0; round < 1000; ++round) {
        JsonPtr doc = load(json);
        ASSERT_TRUE(doc);
        ASSERT_EQ(string_at(doc, "order_key"), "K");
    }
    EXPECT_EQ(json_arena_capacity(), after_first) << "the arena grew: it did not rewind";
}

TEST(JsonArena, KeepsLiveValuesIntactWhileOthersComeAndGo) {
    use_json_arena();
    JsonPtr kept = load(R"({"a": "still here", "n": 7.50})");
    ASSERT_TRUE(kept);
    for (int round = 0; round < 100; ++round) {
        JsonPtr passing = load(R"({"b": [1, 2, 3], "c": {"d": "x"}})");
        ASSERT_TRUE(passing);
    }
    EXPECT_EQ(string_at(kept, "a"), "still here");
    EXPECT_EQ(json_real_value(json_object_get(kept.get(), "n")), 7.5);
}
