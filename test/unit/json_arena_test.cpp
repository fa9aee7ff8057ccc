#include "nomnom/json_arena.hpp"
#include "nomnom/json_document.hpp"

#include <gtest/gtest.h>

using namespace nomnom;

TEST(JsonArena, RewindsWhenEveryDocumentIsGone) {
    use_json_arena();
    std::string json = R"({"order_key": "K", "line_items": [)";
    for (int i = 0; i < 50; ++i)
        json += (i ? "," : "") + std::string(R"({"n": )") + std::to_string(i) + R"(, "p": 1.25})";
    json += "]}";
    std::string error;
    {
        JsonDocument first;
        ASSERT_TRUE(first.parse(json, error)) << error;
    }
    size_t after_first = json_arena_capacity();
    EXPECT_GT(after_first, 0u);
    for (int round = 0; round < 1000; ++round) {
        JsonDocument doc;
        ASSERT_TRUE(doc.parse(json, error)) << error;
        ASSERT_EQ(doc.value_text(JsonDocument::find(doc.root(), {"order_key"})), "K");
    }
    EXPECT_EQ(json_arena_capacity(), after_first) << "the arena grew: it did not rewind";
}

TEST(JsonArena, KeepsLiveValuesIntactWhileOthersComeAndGo) {
    use_json_arena();
    std::string error;
    JsonDocument kept;
    ASSERT_TRUE(kept.parse(R"({"a": "still here", "n": 7.50})", error));
    for (int round = 0; round < 100; ++round) {
        JsonDocument passing;
        ASSERT_TRUE(passing.parse(R"({"b": [1, 2, 3], "c": {"d": "x"}})", error));
    }
    EXPECT_EQ(kept.value_text(JsonDocument::find(kept.root(), {"a"})), "still here");
    EXPECT_EQ(kept.value_text(JsonDocument::find(kept.root(), {"n"})), "7.50");
}
