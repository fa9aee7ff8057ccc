#include "nomnom/json_document.hpp"
#include "nomnom/json_ptr.hpp"

#include "json_cases.hpp"

#include <gtest/gtest.h>

#include <vector>

#include <cstdlib>
#include <random>

using namespace nomnom;

TEST(NumberText, NumbersInsideStringsStayStrings) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(R"({"a": 1234.56, "s": "12 \" 34", "b": [-1e3, 0.10]})", error)) << error;
    EXPECT_EQ(JsonDocument::find(doc.root(), {"a"})->text(), "1234.56");
    EXPECT_EQ(JsonDocument::find(doc.root(), {"s"})->text(), "12 \" 34");
    EXPECT_EQ(doc.to_json(JsonDocument::find(doc.root(), {"b"})), "[-1e3,0.10]");
}

TEST(NumberText, KeepsTheExactDecimalText) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(R"({"price": 1234.56, "even": 450.00, "big": 123456789012345678901234567890,
        "tiny": 0.1000000000000000055511151231257827, "n": 7})", error)) << error;
    auto text = [&](const char* key) { return JsonDocument::find(doc.root(), {key})->text(); };
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
        EXPECT_EQ(JsonDocument::find(doc.root(), {"k" + std::to_string(i)})->text(),
                  std::to_string(i) + ".50");
}

TEST(JsonPath, FindsNestedMembersAndMissesCleanly) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(R"({"shipping": {"address": {"city": "Paris"}}, "s": "x"})", error));
    EXPECT_EQ(JsonDocument::find(doc.root(), {"shipping", "address", "city"})->text(), "Paris");
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

// --- Parsing with RapidJSON: what jansson (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
// JSON_DECODE_INT_AS_REAL) accepts, nothing else, and jansson's messages.

namespace {

// jansson's verdict: its message as JsonDocument reports it, or "" when it accepts.
std::string jansson_error(const std::string& text) {
    json_error_t error;
    JsonPtr root(json_loadb(text.data(), text.size(),
                            JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                            &error));
    if (root)
        return "";
    return std::string(error.text) + " (line " + std::to_string(error.line) + ", column " +
           std::to_string(error.column) + ")";
}

// Our tree against jansson's: same types, keys in the same order, same strings.
void expect_same_tree(const JsonNode* ours, const json_t* theirs, const std::string& where) {
    switch (ours->type()) {
    case JsonType::Null:
        EXPECT_TRUE(json_is_null(theirs)) << where;
        break;
    case JsonType::True:
        EXPECT_TRUE(json_is_true(theirs)) << where;
        break;
    case JsonType::False:
        EXPECT_TRUE(json_is_false(theirs)) << where;
        break;
    case JsonType::Number:
        EXPECT_TRUE(json_is_number(theirs)) << where;
        EXPECT_DOUBLE_EQ(std::strtod(std::string(ours->text()).c_str(), nullptr),
                         json_number_value(theirs))
            << where;
        break;
    case JsonType::String:
        ASSERT_TRUE(json_is_string(theirs)) << where;
        EXPECT_EQ(ours->text(),
                  std::string_view(json_string_value(theirs), json_string_length(theirs)))
            << where;
        break;
    case JsonType::Array: {
        ASSERT_TRUE(json_is_array(theirs)) << where;
        ASSERT_EQ(ours->size(), json_array_size(theirs)) << where;
        size_t i = 0;
        for (const JsonNode& element : ours->children()) {
            expect_same_tree(&element, json_array_get(theirs, i),
                             where + "[" + std::to_string(i) + "]");
            ++i;
        }
        break;
    }
    case JsonType::Object: {
        ASSERT_TRUE(json_is_object(theirs)) << where;
        ASSERT_EQ(ours->size(), json_object_size(theirs)) << where;
        void* iter = json_object_iter(const_cast<json_t*>(theirs));
        for (const JsonNode& member : ours->children()) {
            ASSERT_NE(iter, nullptr) << where;
            EXPECT_EQ(member.key(), json_object_iter_key(iter)) << where;
            expect_same_tree(&member, json_object_iter_value(iter),
                             where + "." + std::string(member.key()));
            iter = json_object_iter_next(const_cast<json_t*>(theirs), iter);
        }
        break;
    }
    }
}

// Parses `text` and checks the outcome against jansson's.
void expect_as_jansson(const std::string& text) {
    JsonDocument doc;
    std::string error;
    bool ok = doc.parse(text, error);
    std::string expected = jansson_error(text);
    ASSERT_EQ(ok, expected.empty())
        << "input: " << text << "\nours: " << error << "\njansson: " << expected;
    if (!ok) {
        EXPECT_EQ(error, expected) << "input: " << text;
        return;
    }
    json_error_t json_error;
    JsonPtr theirs(json_loadb(text.data(), text.size(),
                              JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                              &json_error));
    expect_same_tree(doc.root(), theirs.get(), "input: " + text + "\nat $");
}

} // namespace

TEST(JsonDocument, AgreesWithJanssonOnCases) {
    for (const std::string& text : jansson_agreement_cases())
        expect_as_jansson(text);
}

TEST(JsonDocument, AgreesWithJanssonOnMutations) {
    const std::string order = read_fixture("test_order_with_lineitems.json");
    ASSERT_FALSE(order.empty());
    const std::string escapes =
        "{\"s\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\\n\\/\",\"n\":[-1.5e-3,0,1E+2,"
        "12345678901234567890.5],\"o\":{\"k\":true,\"l\":false,\"m\":null,"
        "\"k2\":{}},\"u\":\"\xc3\xa9\xe2\x82\xac\",\"e\":[[],[{}]]}";
    std::mt19937 rng(20261128);
    const std::string alphabet = "{}[]\",:\\0123456789.eE+-tfnulrsa \n\x01\xc3\xa9\xff";
    for (int round = 0; round < 40000; ++round) {
        std::string text = round % 2 ? order : escapes;
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
        expect_as_jansson(text);
        if (HasFatalFailure() || HasFailure())
            break;
    }
}

TEST(NumberText, KeepsExponentsAndSignsAsWritten) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(
        doc.parse(R"([1.5E+10, -1e-3, 2e2, -0, -0.0, 30000000000000000000000000000.5e-3])", error))
        << error;
    EXPECT_EQ(doc.to_json(doc.root()),
              "[1.5E+10,-1e-3,2e2,-0,-0.0,30000000000000000000000000000.5e-3]");
    const JsonNode* big = &*doc.root()->children().begin();
    EXPECT_EQ(big->type(), JsonType::Number);
    EXPECT_EQ(big->text(), "1.5E+10");
}

TEST(NumberText, ANumberAloneIsADocument) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(" 123456789012345678901234567890 ", error)) << error;
    EXPECT_EQ(doc.root()->text(), "123456789012345678901234567890");
    ASSERT_TRUE(doc.parse("\"a\\tb\"", error)) << error;
    EXPECT_EQ(doc.root()->text(), "a\tb");
}

TEST(JsonDocument, RejectsDuplicateKeysAtAnyDepth) {
    JsonDocument doc;
    std::string error;
    for (const char* text :
         {R"({"a": 1, "a": 2})", R"({"o": {"x": 1, "y": {}, "x": [1]}})",
          R"([{"k": 1}, {"k": 1, "m": 2, "k": 3}])", R"({"a": 1, "\u0061": 2})"}) {
        EXPECT_FALSE(doc.parse(text, error)) << text;
        EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
    }
    // The same key in different objects, and many distinct keys, are fine.
    EXPECT_TRUE(doc.parse(R"({"k": {"k": 1}, "l": [{"k": 1}, {"k": 2}]})", error)) << error;
    std::string many = "{";
    for (int i = 0; i < 300; ++i)
        many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
    EXPECT_TRUE(doc.parse(many + "}", error)) << error;
    EXPECT_FALSE(doc.parse(many + ",\"k299\":0}", error));
    EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
    EXPECT_FALSE(doc.parse("{\"z\":{" + many.substr(1) + ",\"k0\":0}}", error));
    EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
}

// Objects of up to 16 members are checked by key signature (length, first, middle and last
// bytes): keys that share one but differ must pass, and a repeat anywhere must be found.
TEST(JsonDocument, DuplicateKeysFoundAmongKeysOfOneSignature) {
    JsonDocument doc;
    std::string error;
    for (size_t members = 1; members <= 17; ++members) {
        std::vector<std::string> keys;
        for (size_t i = 0; i < members; ++i) // "a0c0e", "a1c0e", ...: one signature
            keys.push_back(std::string("a") + char('0' + i % 10) + "c" + char('0' + i / 10) + "e");
        auto object = [&](const std::vector<std::string>& ks) {
            std::string text = "{";
            for (size_t i = 0; i < ks.size(); ++i)
                text += (i ? ",\"" : "\"") + ks[i] + "\":" + std::to_string(i);
            return text + "}";
        };
        EXPECT_TRUE(doc.parse(object(keys), error)) << object(keys) << ": " << error;
        for (size_t i = 0; i < members; ++i)
            for (size_t j = 0; j < members; ++j) {
                if (i == j)
                    continue;
                std::vector<std::string> repeated = keys;
                repeated[j] = keys[i];
                EXPECT_FALSE(doc.parse(object(repeated), error)) << object(repeated);
                EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
            }
    }
    // Keys of all signatures, and the empty key.
    std::string text = "{\"\":0";
    for (int i = 0; i < 15; ++i)
        text +=
            ",\"" + std::string(static_cast<size_t>(i + 1), static_cast<char>('b' + i)) + "\":1";
    EXPECT_TRUE(doc.parse(text + "}", error)) << error;
    EXPECT_FALSE(doc.parse("{\"\":0,\"x\":1,\"\":2}", error));
    EXPECT_NE(error.find("duplicate"), std::string::npos) << error;
}

TEST(JsonDocument, RejectsNulInStringsAndKeys) {
    JsonDocument doc;
    std::string error;
    EXPECT_FALSE(doc.parse(R"({"a": "x\u0000y"})", error));
    EXPECT_NE(error.find("\\u0000 is not allowed"), std::string::npos) << error;
    EXPECT_FALSE(doc.parse(R"({"\u0000": 1})", error));
    EXPECT_NE(error.find("NUL byte in object key"), std::string::npos) << error;
    EXPECT_FALSE(doc.parse(std::string("{\"a\": 1}\0", 9), error)) << "a NUL byte after the value";
    EXPECT_EQ(doc.root(), nullptr) << "a failed parse leaves no document";
}

TEST(JsonDocument, RejectsInvalidUtf8) {
    JsonDocument doc;
    std::string error;
    for (const char* text : {"\"\xff\"", "{\"a\xc3\": 1}", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
                             "\"\xf4\x90\x80\x80\"", "[\"ok\", \"\xe2\x82\"]"}) {
        EXPECT_FALSE(doc.parse(text, error)) << text;
        EXPECT_NE(error.find("unable to decode byte"), std::string::npos) << error;
    }
    EXPECT_TRUE(doc.parse("\"\xe2\x82\xac \xf0\x9f\x98\x80\"", error)) << error;
    EXPECT_EQ(doc.root()->text(), "\xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(JsonDocument, DeepNestingIsRejectedAtJanssonsDepth) {
    JsonDocument doc;
    std::string error;
    EXPECT_FALSE(doc.parse(std::string(100000, '['), error));
    EXPECT_NE(error.find("maximum parsing depth reached"), std::string::npos) << error;
    EXPECT_FALSE(doc.parse(std::string(100000, '[') + std::string(100000, ']'), error));
    std::string objects;
    for (int i = 0; i < 100000; ++i)
        objects += "{\"a\":";
    EXPECT_FALSE(doc.parse(objects, error));
    EXPECT_NE(error.find("maximum parsing depth reached"), std::string::npos) << error;
    // jansson's limit: 2048 levels, a scalar inside counting as one.
    ASSERT_TRUE(doc.parse(std::string(2048, '[') + std::string(2048, ']'), error)) << error;
    EXPECT_EQ(doc.to_json(doc.root()).size(), 4096u);
    EXPECT_TRUE(doc.parse(std::string(2047, '[') + "1" + std::string(2047, ']'), error)) << error;
    EXPECT_FALSE(doc.parse(std::string(2048, '[') + "1" + std::string(2048, ']'), error));
}

TEST(JsonDocument, RejectsTrailingGarbage) {
    JsonDocument doc;
    std::string error;
    for (const char* text : {"{} x", "[1] [2]", "1 2", "\"a\" \"b\"", "{}}", "null,"}) {
        EXPECT_FALSE(doc.parse(text, error)) << text;
        EXPECT_EQ(error, jansson_error(text)) << text;
    }
    EXPECT_TRUE(doc.parse(" {} \n\t\r ", error)) << error;
}

TEST(JsonDocument, DecodesEscapes) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(
        R"({"s": "q\"b\\s\/n\nt\tr\rb\bf\fu\u00e9\u20ac\ud83d\ude00", "k\u00e9y": 1})", error))
        << error;
    EXPECT_EQ(JsonDocument::find(doc.root(), {"s"})->text(),
              "q\"b\\s/n\nt\tr\rb\bf\fu\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    EXPECT_EQ(JsonDocument::find(doc.root(), {"k\xc3\xa9y"})->text(), "1");
}

TEST(JsonDocument, SerializesStringsAsJanssonDoes) {
    const std::vector<std::string> strings = {"",
                                              "plain",
                                              "q\"uote",
                                              "back\\slash",
                                              "sl/ash",
                                              "nl\ncr\rtab\tbs\bff\f",
                                              std::string("\x01\x02\x1f\x7f", 4),
                                              "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                              "</script>",
                                              "\xe2\x80\xa8\xe2\x80\xa9",
                                              "mixed \"\\\x1b[0m"};
    for (const std::string& s : strings) {
        JsonPtr value(json_stringn(s.data(), s.size()));
        std::string key_escaped = dump_json(value.get());
        JsonPtr object(new_json_object());
        json_object_set_new(object.get(), s.c_str(), json_stringn(s.data(), s.size()));
        std::string object_text = dump_json(object.get());
        JsonDocument doc;
        std::string error;
        ASSERT_TRUE(doc.parse(object_text, error)) << error << " in " << object_text;
        EXPECT_EQ(doc.to_json(doc.root()), object_text);
        EXPECT_EQ(doc.to_json(JsonDocument::find(doc.root(), {s})), key_escaped);
        EXPECT_EQ(JsonDocument::find(doc.root(), {s})->text(), s);
    }
}

TEST(JsonDocument, SerializesContainersInDocumentOrder) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(
        R"( { "z" : [ ] , "a" : { } , "m" : [ null , { "y" : false , "b" : [ [ ] ] } ] } )",
        error));
    EXPECT_EQ(doc.to_json(doc.root()), R"({"z":[],"a":{},"m":[null,{"y":false,"b":[[]]}]})");
    EXPECT_EQ(doc.to_json(JsonDocument::find(doc.root(), {"m"})),
              R"([null,{"y":false,"b":[[]]}])");
    EXPECT_EQ(doc.to_json(JsonDocument::find(doc.root(), {"m"})->children().begin().operator->()),
              "null");
}

TEST(JsonPath, MissesOnArraysScalarsAndNull) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(R"({"a": [{"b": 1}], "n": null, "x": 1, "o": {}})", error));
    EXPECT_EQ(JsonDocument::find(doc.root(), {"a", "b"}), nullptr);
    EXPECT_EQ(JsonDocument::find(doc.root(), {"n", "b"}), nullptr);
    EXPECT_EQ(JsonDocument::find(doc.root(), {"x", "b"}), nullptr);
    EXPECT_EQ(JsonDocument::find(doc.root(), {"o", "b"}), nullptr);
    EXPECT_EQ(JsonDocument::find(doc.root(), {"B"}), nullptr);
    EXPECT_EQ(JsonDocument::find(doc.root(), {""}), nullptr);
    EXPECT_EQ(JsonDocument::find(nullptr, {"a"}), nullptr);
    EXPECT_EQ(JsonDocument::find(doc.root(), {}), doc.root());
    ASSERT_NE(JsonDocument::find(doc.root(), {"n"}), nullptr);
    EXPECT_TRUE(JsonDocument::find(doc.root(), {"n"})->is_null());
    EXPECT_EQ(JsonDocument::find(doc.root(), {"a"})->size(), 1u);
}

TEST(NumberText, ZeroWithAHugeExponentIsRejected) {
    // An intentional difference: RapidJSON 1.1.0 refuses a positive exponent above
    // 308 + the number of fraction digits before it knows the value; jansson accepts such a
    // number when its value is finite, which (other numbers overflow anyway) only happens
    // for a zero: 0e309, -0.0e400. No real document writes one, and it gets RapidJSON's message.
    JsonDocument doc;
    std::string error;
    for (const char* text : {"0e309", "[-0.0E+400]", "{\"a\": 0.000e312}"}) {
        EXPECT_EQ(jansson_error(text), "") << text;
        EXPECT_FALSE(doc.parse(text, error)) << text;
        EXPECT_NE(error.find("Number too big to be stored in double"), std::string::npos) << error;
        EXPECT_NE(error.find("(line 1, column "), std::string::npos) << error;
    }
    EXPECT_TRUE(doc.parse("0e308", error)) << error;
    EXPECT_TRUE(doc.parse("0.000e311", error)) << error;
    EXPECT_EQ(doc.root()->text(), "0.000e311");
}

TEST(JsonPath, AMemberIsFoundFromAnyHint) {
    JsonDocument doc;
    std::string error;
    ASSERT_TRUE(doc.parse(R"({"a": 1, "b": {"a": 2, "c": [3]}, "c": [4, 5], "d": null})", error))
        << error;
    const JsonNode* root = doc.root();
    std::vector<const JsonNode*> hints = {nullptr, root->next()};
    for (const JsonNode& member : root->children())
        hints.push_back(&member);
    for (const char* key : {"a", "b", "c", "d", "e", ""})
        for (const JsonNode* hint : hints)
            EXPECT_EQ(root->member(key, hint), root->member(key)) << key;
    // Members of a member are not members: "b" holds a "c" of its own.
    EXPECT_EQ(JsonDocument::to_json(root->member("c", root->member("b"))), "[4,5]");
    EXPECT_EQ(JsonDocument::to_json(root->member("a", root->member("c"))), "1");
}

TEST(JsonDocument, RawControlCharactersInLongStringsAreRejected) {
    // Found by test/fuzz/json_document.cpp: RapidJSON 1.1.0's SSE2 string scan stops only at
    // bytes up to 0x19, so a raw 0x1A-0x1F inside a string scanned 16 bytes at a time was
    // accepted; jansson (and the bridge) refuse every raw control character.
    JsonDocument doc;
    std::string error;
    for (int c = 0x01; c < 0x20; ++c) {
        for (size_t offset : {0, 5, 16, 31, 40}) {
            std::string text = "{\"key\": \"" + std::string(offset, 'a') +
                               std::string(1, static_cast<char>(c)) + std::string(40, 'b') + "\"}";
            EXPECT_FALSE(doc.parse(text, error)) << "byte " << c << " at " << offset;
            EXPECT_EQ(error, jansson_error(text)) << "byte " << c << " at " << offset;
        }
    }
    EXPECT_TRUE(doc.parse("{\"key\": \"" + std::string(40, 'a') + "\\u001f\"}", error)) << error;
    EXPECT_EQ(doc.root()->member("key")->text(), std::string(40, 'a') + "\x1f");
}
