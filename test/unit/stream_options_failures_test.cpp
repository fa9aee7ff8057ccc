// The stream options of failure handling (issue 13, item 5): bounds of a fetch in bytes, and
// the timeouts of the workers' writes.
#include "nomnom/stream_options.hpp"

#include <gtest/gtest.h>

using namespace nomnom;

TEST(StreamOptionsFailures, BatchBytes) {
    StreamOptions o;
    std::string error;
    EXPECT_EQ(o.batch_bytes, 16 * 1024 * 1024);
    ASSERT_TRUE(parse_stream_options(R"({"batch_bytes": 1048576})", o, error)) << error;
    EXPECT_EQ(o.batch_bytes, 1048576);
    EXPECT_FALSE(parse_stream_options(R"({"batch_bytes": 1023})", o, error));
    EXPECT_EQ(error, "option \"batch_bytes\" must be between 1024 and 1073741824, not 1023");
    EXPECT_FALSE(parse_stream_options(R"({"batch_bytes": "1MB"})", o, error));
    EXPECT_EQ(error, "option \"batch_bytes\" must be an integer");
    std::string out;
    ASSERT_TRUE(normalize_stream_options(R"({"batch_bytes": "65536.0"})", out, error)) << error;
    EXPECT_EQ(out, R"({"batch_bytes":65536})");
}

TEST(StreamOptionsFailures, WriteTimeouts) {
    StreamOptions o;
    std::string error;
    EXPECT_EQ(o.lock_timeout_ms, 10000);
    EXPECT_EQ(o.statement_timeout_ms, 300000);
    ASSERT_TRUE(
        parse_stream_options(R"({"lock_timeout_ms": 0, "statement_timeout_ms": 2.0})", o, error))
        << error;
    EXPECT_EQ(o.lock_timeout_ms, 0);
    EXPECT_EQ(o.statement_timeout_ms, 2);
    EXPECT_FALSE(parse_stream_options(R"({"lock_timeout_ms": -1})", o, error));
    EXPECT_EQ(error, "option \"lock_timeout_ms\" must be between 0 and 86400000, not -1");
    EXPECT_FALSE(parse_stream_options(R"({"statement_timeout_ms": "5s"})", o, error));
    EXPECT_EQ(error, "option \"statement_timeout_ms\" must be an integer");
    std::string out;
    ASSERT_TRUE(normalize_stream_options(
        R"({"lock_timeout_ms": "500", "statement_timeout_ms": 1e3})", out, error))
        << error;
    EXPECT_EQ(out, R"({"lock_timeout_ms":500,"statement_timeout_ms":1000})");
}
