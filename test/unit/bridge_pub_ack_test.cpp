// parse_pub_ack (bridge/src/pub_ack.hpp) on the answers nats-server 2.9 writes, spaced and
// ordered as it writes them and otherwise, and on text that is not a PubAck.
#include "pub_ack.hpp"

#include <gtest/gtest.h>

using bridge::parse_pub_ack;
using bridge::PubAck;

TEST(PubAck, StoredAnswers) {
    PubAck a;
    std::string err;
    ASSERT_TRUE(parse_pub_ack(R"({"stream":"MESSAGES", "seq":42})", a, err)) << err;
    EXPECT_EQ(a.stream, "MESSAGES");
    EXPECT_EQ(a.seq, 42u);
    EXPECT_FALSE(a.duplicate);
    EXPECT_FALSE(a.is_error);

    ASSERT_TRUE(parse_pub_ack(R"({"stream":"S", "seq":7,"duplicate": true})", a, err)) << err;
    EXPECT_EQ(a.seq, 7u);
    EXPECT_TRUE(a.duplicate);

    ASSERT_TRUE(parse_pub_ack(
        " {\n \"domain\" : \"hub\", \"seq\" : 9223372036854775807 ,\"stream\":\"A\\\"B\",\n"
        " \"duplicate\":false, \"extra\": {\"x\": [1, 2.5e3, null, \"}\"]}} ",
        a, err))
        << err;
    EXPECT_EQ(a.stream, "A\"B");
    EXPECT_EQ(a.seq, 9223372036854775807u);
    EXPECT_FALSE(a.duplicate);
}

TEST(PubAck, ErrorAnswers) {
    PubAck a;
    std::string err;
    ASSERT_TRUE(parse_pub_ack(
        R"({"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"S","seq":0})",
        a, err))
        << err;
    EXPECT_TRUE(a.is_error);
    EXPECT_EQ(a.code, 503);
    EXPECT_EQ(a.err_code, 10077);
    EXPECT_EQ(a.description, "maximum messages exceeded");

    ASSERT_TRUE(
        parse_pub_ack(R"({"error":{"description":"a \"quoted\" \\ text","code":400}})", a, err))
        << err;
    EXPECT_TRUE(a.is_error);
    EXPECT_EQ(a.code, 400);
    EXPECT_EQ(a.err_code, 0);
    EXPECT_EQ(a.description, "a \"quoted\" \\ text");
}

TEST(PubAck, NotAPubAck) {
    PubAck a;
    std::string err;
    for (const char* text :
         {"", "{}", "null", R"({"stream":"S"})", R"({"seq":1})", R"({"stream":"S","seq":-1})",
          R"({"stream":"S","seq":1)", R"({"stream":"S","seq":1}x)", R"({"stream":S,"seq":1})",
          R"({"stream":"S","seq":1,"duplicate":yes})", R"({"stream":"S,"seq":1})",
          R"({"stream":"S","seq":99999999999999999999})", R"({"stream":"S","seq":1,})",
          R"({"stream":"S","seq":9223372036854775808})"}) {
        err.clear();
        EXPECT_FALSE(parse_pub_ack(text, a, err)) << text;
        EXPECT_FALSE(err.empty()) << text;
    }
}
