// NDJSON splitting: line numbers as an editor counts them, blank lines skipped, CRLF.
#include "routing.hpp"

#include <gtest/gtest.h>

using namespace bridge;

TEST(BridgeNdjson, SplitsLinesAndNumbersThem) {
    auto lines = split_ndjson("{\"a\":1}\n{\"a\":2}\n");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].number, 1u);
    EXPECT_EQ(lines[0].text, "{\"a\":1}");
    EXPECT_EQ(lines[1].number, 2u);
    EXPECT_EQ(lines[1].text, "{\"a\":2}");
}

TEST(BridgeNdjson, NoTrailingNewline) {
    auto lines = split_ndjson("{}\n{}");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1].text, "{}");
}

TEST(BridgeNdjson, BlankLinesAreSkippedButCounted) {
    auto lines = split_ndjson("\n{}\n  \n\t\n{\"b\":1}\n\n");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].number, 2u);
    EXPECT_EQ(lines[1].number, 5u);
}

TEST(BridgeNdjson, CrLf) {
    auto lines = split_ndjson("{}\r\n{\"x\":\"y\"}\r\n");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].text, "{}");
    EXPECT_EQ(lines[1].text, "{\"x\":\"y\"}");
}

TEST(BridgeNdjson, Empty) {
    EXPECT_TRUE(split_ndjson("").empty());
    EXPECT_TRUE(split_ndjson("\n\n").empty());
}

TEST(BridgeNdjson, StopsOneLineAfterTheCap) {
    std::string body;
    for (int i = 0; i < 100; ++i)
        body += "{}\n\n";
    EXPECT_EQ(split_ndjson(body).size(), 100u);
    auto lines = split_ndjson(body, 10);
    ASSERT_EQ(lines.size(), 11u); // more than the cap: the caller refuses the body
    EXPECT_EQ(lines[10].number, 21u);
    EXPECT_EQ(split_ndjson(body, 100).size(), 100u); // exactly the cap is fine
    EXPECT_EQ(split_ndjson(body, 0).size(), 1u);
}
