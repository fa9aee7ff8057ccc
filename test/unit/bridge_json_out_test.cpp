// Responses written without jansson must still be JSON that jansson reads back as meant.
#include "json_out.hpp"

#include <jansson.h>

#include <gtest/gtest.h>

using namespace bridge;

namespace {
std::string roundtrip_string(const std::string& value) {
    std::string out;
    append_json_string(out, value);
    json_error_t error;
    json_t* parsed = json_loadb(out.data(), out.size(), JSON_DECODE_ANY, &error);
    EXPECT_NE(parsed, nullptr) << out << ": " << error.text;
    std::string back = parsed && json_is_string(parsed)
                           ? std::string(json_string_value(parsed), json_string_length(parsed))
                           : "<not a string>";
    json_decref(parsed);
    return back;
}
} // namespace

TEST(BridgeJsonOut, StringsRoundTrip) {
    EXPECT_EQ(roundtrip_string("plain"), "plain");
    EXPECT_EQ(roundtrip_string("q\"b\\s/"), "q\"b\\s/");
    EXPECT_EQ(roundtrip_string("nl\n cr\r tab\t bell\x07"), "nl\n cr\r tab\t bell\x07");
    EXPECT_EQ(roundtrip_string("h\xc3\xa9 \xf0\x9f\x98\x80"), "h\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST(BridgeJsonOut, BytesThatAreNotUtf8BecomeReplacementCharacters) {
    EXPECT_EQ(roundtrip_string("a\xff"
                               "b\xc0\xaf"),
              "a\xef\xbf\xbd"
              "b\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(BridgeJsonOut, Writer) {
    JsonWriter w;
    w.begin_object()
        .field("a", "x")
        .field("n", static_cast<uint64_t>(42))
        .field("t", true)
        .begin_array("list")
        .begin_object()
        .field("line", static_cast<uint64_t>(1))
        .end_object()
        .begin_object()
        .end_object()
        .end_array()
        .end_object();
    EXPECT_EQ(w.take(), "{\"a\":\"x\",\"n\":42,\"t\":true,\"list\":[{\"line\":1},{}]}");
}
