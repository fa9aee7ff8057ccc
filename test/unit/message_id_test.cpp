#include "nomnom/message_id.hpp"

#include <gtest/gtest.h>

using namespace nomnom;

TEST(MessageId, KeepsUuidsAndNormalizesCase) {
    EXPECT_EQ(message_uuid_from_id("1B4E28BA-2FA1-11D2-883F-0016D3CCA427"),
              "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    EXPECT_FALSE(parse_uuid("not-a-uuid"));
}

TEST(MessageId, DerivesStableVersion5Ids) {
    std::string a = message_uuid_from_id("order-42");
    EXPECT_EQ(a, message_uuid_from_id("order-42"));
    EXPECT_NE(a, message_uuid_from_id("order-43"));
    EXPECT_EQ(a[14], '5');
    EXPECT_EQ(message_uuid_from_sequence("MESSAGES", 7), message_uuid_from_sequence("MESSAGES", 7));
    EXPECT_NE(message_uuid_from_sequence("MESSAGES", 7), message_uuid_from_sequence("OTHER", 7));
}

TEST(MessageId, RandomIdsAreVersion4AndDistinct) {
    std::string a = random_uuid();
    EXPECT_EQ(a[14], '4');
    EXPECT_NE(a, random_uuid());
}
