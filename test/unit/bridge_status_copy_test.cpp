// The pending rows' binary COPY data: PostgreSQL's binary COPY format, byte for byte.
#include "status_recorder.hpp"

#include <gtest/gtest.h>

using namespace bridge;

namespace {
std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values)
        out += static_cast<char>(v);
    return out;
}
std::string field(const std::string& value) {
    return bytes({0, 0, 0, static_cast<int>(value.size())}) + value;
}
} // namespace

TEST(BridgeStatusCopy, OneRowAsPostgresReadsIt) {
    StatusRow row{
        "0123abcd-4567-89ef-ABCD-0123456789ab", "MESSAGES", "messages.ingest.Order", "Order", 258,
        // 2000-01-02 00:00:00.000001 UTC: one day and a microsecond past PostgreSQL's epoch
        (946684800LL + 86400) * 1000000 + 1};
    std::string out;
    ASSERT_TRUE(pending_copy_data({row}, out));
    std::string expected = std::string("PGCOPY\n\377\r\n", 10) + bytes({0, 0, 0, 0, 0, 0, 0, 0, 0});
    expected += bytes({0, 7});
    expected += bytes({0,    0,    0,    16,   0x01, 0x23, 0xab, 0xcd, 0x45, 0x67,
                       0x89, 0xef, 0xab, 0xcd, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab});
    expected +=
        field("MESSAGES") + field("messages.ingest.Order") + field("Order") + field("pending");
    expected += bytes({0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2});
    // 86,400,000,001 microseconds = 0x141DD76001
    expected += bytes({0, 0, 0, 8, 0, 0, 0, 0x14, 0x1d, 0xd7, 0x60, 0x01});
    expected += bytes({0xff, 0xff});
    EXPECT_EQ(out, expected);
}

TEST(BridgeStatusCopy, EmptyAndSeveralRows) {
    std::string out;
    ASSERT_TRUE(pending_copy_data({}, out));
    EXPECT_EQ(out.size(), 11u + 8u + 2u); // header and trailer only
    StatusRow row{"00000000-0000-0000-0000-000000000000", "", "s", "e", 0, 946684800LL * 1000000};
    ASSERT_TRUE(pending_copy_data({row, row}, out));
    // per row: count 2, uuid 4+16, stream 4+0, subject 4+1, entity 4+1, status 4+7, 2 x 4+8
    EXPECT_EQ(out.size(), 11u + 8u + 2u * (2 + 20 + 4 + 5 + 5 + 11 + 24) + 2u);
    // the last received_at: PostgreSQL's epoch itself, 0; then the trailer
    EXPECT_EQ(out.substr(out.size() - 14), bytes({0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}));
}

TEST(BridgeStatusCopy, NotAUuidIsRefused) {
    std::string out;
    for (const char* id :
         {"", "not-a-uuid", "0123abcd-4567-89ef-abcd-0123456789a",
          "0123abcd-4567-89ef-abcd-0123456789ax", "0123abcd+4567-89ef-abcd-0123456789ab",
          "0123abcd-4567-89ef-abcd-0123456789abc"}) {
        StatusRow row{id, "S", "s", "e", 1, 0};
        EXPECT_FALSE(pending_copy_data({row}, out)) << id;
    }
}

TEST(BridgeStatusCopy, TimestampText) {
    EXPECT_EQ(timestamptz_text((946684800LL + 86400) * 1000000 + 1),
              "2000-01-02 00:00:00.000001+00");
}
