#include "nomnom/message_id.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>

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

TEST(MessageId, JetStreamMessageIdsPreferTheNomnomHeaderThenNatsMsgIdThenTheSequence) {
    const char* uuid = "1B4E28BA-2FA1-11D2-883F-0016D3CCA427";
    EXPECT_EQ(message_uuid("S", 7, uuid, "order-42"), "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    EXPECT_EQ(message_uuid("S", 7, "not-a-uuid", "order-42"), message_uuid_from_id("order-42"));
    EXPECT_EQ(message_uuid("S", 7, nullptr, "order-42"), message_uuid_from_id("order-42"));
    EXPECT_EQ(message_uuid("S", 7, nullptr, ""), message_uuid_from_sequence("S", 7));
    EXPECT_EQ(message_uuid("S", 7, nullptr, nullptr), message_uuid_from_sequence("S", 7));
}

TEST(MessageId, RandomIdsAreVersion4AndDistinct) {
    std::string a = random_uuid();
    EXPECT_EQ(a[14], '4');
    EXPECT_NE(a, random_uuid());
}

TEST(MessageId, RandomIdsStayDistinctAcrossPoolRefills) {
    // 4 KiB of randomness serves 256 ids: 10,000 ids refill the pool many times.
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
        std::string id = random_uuid();
        ASSERT_EQ(id.size(), 36u);
        EXPECT_EQ(id[14], '4');
        EXPECT_NE(std::strchr("89ab", id[19]), nullptr) << id; // RFC 4122 variant
        ASSERT_TRUE(seen.insert(id).second) << "repeated " << id;
    }
}

TEST(MessageId, ForkedChildDoesNotRepeatTheParentsIds) {
    random_uuid(); // the pool now holds unused bytes a child would inherit
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::string id = random_uuid();
        ssize_t written = write(pipe_fds[1], id.data(), id.size());
        _exit(written == 36 ? 0 : 1);
    }
    std::string parent_id = random_uuid();
    char buffer[36];
    ASSERT_EQ(read(pipe_fds[0], buffer, sizeof buffer), 36);
    int status = 0;
    waitpid(child, &status, 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    EXPECT_EQ(status, 0);
    EXPECT_NE(std::string(buffer, 36), parent_id);
}

TEST(MessageId, ReplaySignature) {
    const std::string key = "0123456789abcdef0123456789abcdef";
    const std::string id = "b0000000-0000-4000-8000-000000000001";
    std::string sig = replay_signature(key, id, "b0000000-0000-4000-8000-000000000001:replay:7",
                                       "messages.ingest.Order");
    EXPECT_EQ(sig.size(), 64u);
    EXPECT_TRUE(replay_signature_valid(
        key, sig, id, "b0000000-0000-4000-8000-000000000001:replay:7", "messages.ingest.Order"));
    // Bound to the id, the Nats-Msg-Id, the subject and the key.
    EXPECT_FALSE(replay_signature_valid(key, sig, "b0000000-0000-4000-8000-000000000002",
                                        "b0000000-0000-4000-8000-000000000001:replay:7",
                                        "messages.ingest.Order"));
    EXPECT_FALSE(replay_signature_valid(key, sig, id, "other", "messages.ingest.Order"));
    EXPECT_FALSE(replay_signature_valid(
        key, sig, id, "b0000000-0000-4000-8000-000000000001:replay:7", "messages.ingest.Customer"));
    EXPECT_FALSE(replay_signature_valid("another key", sig, id,
                                        "b0000000-0000-4000-8000-000000000001:replay:7",
                                        "messages.ingest.Order"));
    EXPECT_FALSE(replay_signature_valid(key, "", id, "", ""));
    // No key (a worker that could not read it): nothing is ever valid.
    EXPECT_EQ(replay_signature("", id, "x", "y"), "");
    EXPECT_FALSE(replay_signature_valid("", "", id, "x", "y"));
}
