// The bridge's JSON scanner must accept exactly what the worker's parser (jansson with the
// flags nomnom::JsonDocument uses) accepts: checked here case by case and by mutation.
#include "json_check.hpp"

#include "json_cases.hpp"

#include <jansson.h>

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using namespace bridge;

namespace {

bool jansson_accepts(const std::string& text) {
    json_error_t error;
    json_t* root =
        json_loadb(text.data(), text.size(),
                   JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY, &error);
    json_decref(root);
    return root != nullptr;
}


} // namespace

TEST(BridgeJsonCheck, AgreesWithJanssonOnCases) {
    for (const std::string& text : jansson_agreement_cases())
        EXPECT_EQ(check_json(text).ok, jansson_accepts(text)) << "input: " << text;
}

TEST(BridgeJsonCheck, DepthLimitAsJansson) {
    std::string ok = std::string(2048, '[') + std::string(2048, ']');
    std::string deep = std::string(2049, '[') + std::string(2049, ']');
    EXPECT_TRUE(jansson_accepts(ok));
    EXPECT_TRUE(check_json(ok).ok);
    EXPECT_FALSE(jansson_accepts(deep));
    EXPECT_FALSE(check_json(deep).ok);
}

TEST(BridgeJsonCheck, DuplicateKeysInLargeObjects) {
    std::string text = "{";
    for (int i = 0; i < 1000; ++i)
        text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
    EXPECT_TRUE(check_json(text + "}").ok);
    EXPECT_FALSE(check_json(text + ",\"k3\":0}").ok);
    EXPECT_FALSE(jansson_accepts(text + ",\"k3\":0}"));
}

// Strings are scanned eight bytes at a time: each byte that needs a look, at every place in
// and around a word, through one JsonChecker reused as a batch reuses it.
TEST(BridgeJsonCheck, StringBytesAtEveryOffset) {
    JsonChecker checker;
    const std::vector<std::string> specials = {"\"",   "\\\\", "\\n",  "\\u00e9",
                                               "\x01", "\x1f", "\x7f", "\xc3\xa9",
                                               "\xff", "\x80", "\xc3", "\xe2\x82\xac"};
    int checked = 0;
    for (const std::string& special : specials)
        for (size_t offset = 0; offset < 24; ++offset)
            for (size_t tail = 0; tail < 10; tail += 3) {
                std::string text = "{\"k\":\"" + std::string(offset, 'a') + special +
                                   std::string(tail, 'b') + "\"}";
                EXPECT_EQ(checker.check(text).ok, jansson_accepts(text)) << "input: " << text;
                EXPECT_EQ(check_json(text).ok, jansson_accepts(text)) << "input: " << text;
                ++checked;
            }
    EXPECT_EQ(checked, 12 * 24 * 4);
}

// Keys are compared decoded ("a" and "\u0061" are one key), and a JsonChecker carries no key
// from one document into the next, whether the first failed or not.
TEST(BridgeJsonCheck, KeysDecodedAndPerDocument) {
    JsonChecker checker;
    for (const std::string text : {"{\"a\":1,\"\\u0061\":2}", "{\"ab\":1,\"a\\u0062\":2}",
                                   "{\"\\u0061b\":1,\"ab\":2}", "{\"a\\\"b\":1,\"a\\u0022b\":2}"}) {
        EXPECT_FALSE(jansson_accepts(text)) << text;
        EXPECT_FALSE(checker.check(text).ok) << text;
    }
    EXPECT_TRUE(checker.check("{\"a\":1,\"\\u0062\":2}").ok);
    EXPECT_FALSE(checker.check("{\"x\":{\"y\":[1,").ok); // fails inside two objects
    EXPECT_TRUE(checker.check("{\"x\":{\"y\":1},\"y\":2}").ok);
    EXPECT_TRUE(checker.check("{\"a\":1}").ok);
    JsonCheck c = checker.check("{\"entity_type\":\"Order\",\"k\":\"v\"}");
    ASSERT_TRUE(c.ok);
    EXPECT_EQ(c.entity_type, "Order");
}

TEST(BridgeJsonCheck, EntityTypeAndShape) {
    JsonCheck c = check_json("{\"order_key\":\"x\",\"entity_type\":\"Ord\\u0065r\"}");
    ASSERT_TRUE(c.ok);
    EXPECT_TRUE(c.is_object);
    EXPECT_EQ(c.entity_type, "Order");
    c = check_json("{\"nested\":{\"entity_type\":\"Inner\"}}");
    EXPECT_EQ(c.entity_type, "");
    c = check_json("{\"entity_type\":42}");
    EXPECT_TRUE(c.ok);
    EXPECT_EQ(c.entity_type, "");
    c = check_json("[1]");
    EXPECT_TRUE(c.ok);
    EXPECT_FALSE(c.is_object);
    c = check_json("{\"a\":\n tru}");
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.error.find("line 2"), std::string::npos) << c.error;
}

TEST(BridgeJsonCheck, AgreesWithJanssonOnMutations) {
    const std::string base = read_fixture("test_order_with_lineitems.json");
    ASSERT_FALSE(base.empty());
    ASSERT_TRUE(check_json(base).ok);
    std::mt19937 rng(20261127);
    const std::string alphabet = "{}[]\",:\\0123456789.eE+-tfnulrsa \n\x01\xc3\xa9\xff";
    int rejected = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string text = base;
        int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits && !text.empty(); ++e) {
            size_t at = rng() % text.size();
            char ch = alphabet[rng() % alphabet.size()];
            switch (rng() % 3) {
            case 0:
                text[at] = ch;
                break;
            case 1:
                text.erase(at, 1);
                break;
            default:
                text.insert(at, 1, ch);
                break;
            }
        }
        bool ours = check_json(text).ok;
        rejected += ours ? 0 : 1;
        ASSERT_EQ(ours, jansson_accepts(text)) << "input: " << text;
    }
    EXPECT_GT(rejected, 1000); // the mutations do reach the error paths
}
