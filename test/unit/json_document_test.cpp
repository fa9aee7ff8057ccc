#include "nomnom/json_document.hpp"

#include <gtest/gtest.h>

using namespace nomnom;

TEST(NumberText, ScansLiteralsButNotStrings) {
    auto literals = scan_number_literals(R"({"a": 1234.56, "s": "12 \" 34", "b": [-1e3, 0.10]})");
    ASSERT_EQ(literals.size(), 3u);
    EXPECT_EQ(literals[0], "1234.56");
    EXPECT_EQ(literals[1], "-1e3");
    EXPECT_EQ(literals[2], "0.10");
}

TEST(NumberText, KeepsTheExactDecimalText) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(R"({"price": 1234.56, "even": 450.00, "big": 123456789012345678901234567890,
        "tiny": 0.1000000000000000055511151231257827, "n": 7})", error)) << error;
    auto text = [&](const char* key) { return doc.value_text(JsonDocument::find(doc.root(), {key})); };
    EXPECT_EQ(text("price"), "1234.56");
    EXPECT_EQ(text("even"), "450.00");
    EXPECT_EQ(text("big"), "123456789012345678901234567890");
    EXPECT_EQ(text("tiny"), "0.1000000000000000055511151231257827");
    EXPECT_EQ(text("n"), "7");
}

TEST(NumberText, PairsNumbersInManyKeyedObjects) {
    // Enough members to make any hash-order iteration show up.
    std::string json = "{";
    for (int i = 0; i < 200; ++i)
        json += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":" + std::to_string(i) + ".50";
    json += "}";
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(json, error)) << error;
    for (int i = 0; i < 200; ++i)
        EXPECT_EQ(doc.value_text(JsonDocument::find(doc.root(), {"k" + std::to_string(i)})),
                  std::to_string(i) + ".50");
}

TEST(JsonPath, FindsNestedMembersAndMissesCleanly) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(R"({"shipping": {"address": {"city": "Paris"}}, "s": "x"})", error));
    EXPECT_EQ(doc.value_text(JsonDocument::find(doc.root(), {"shipping", "address", "city"})), "Paris");
    EXPECT_EQ(JsonDocument::find(doc.root(), {"shipping", "zip"}), nullptr);
    EXPECT_EQ(JsonDocument::find(doc.root(), {"s", "deeper"}), nullptr);
}

TEST(JsonDocument, SerializesWithNumbersAsWritten) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(R"({"o": {"a": [1.10, true, null, "q\""]}})", error));
    EXPECT_EQ(doc.to_json(JsonDocument::find(doc.root(), {"o"})), R"({"a":[1.10,true,null,"q\""]})");
}

TEST(JsonDocument, ReportsWhereParsingFailed) {
    JsonDocument doc;
    std::string error;
    EXPECT_FALSE(doc.parse("{\"a\": 1,\n \"b\": }", error));
    EXPECT_NE(error.find("line 2"), std::string::npos) << error;
    EXPECT_FALSE(doc.parse(R"({"a": 1, "a": 2})", error));
    EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
}
