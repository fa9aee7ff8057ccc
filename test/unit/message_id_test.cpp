#include "nomnom/message_id.hpp"

#include <gtest/gtest.h>
#include <uuid/uuid.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

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

// The hand-rolled parse and format (the prefetch thread's, a message) against libuuid's,
// which the ids were made with before: the same bytes and texts, the same texts refused.
TEST(MessageId, HandRolledParseAndFormatMatchLibuuid) {
    std::mt19937 random(17);
    const std::string alphabet = "0123456789abcdefABCDEFgG-xX \t\n\xff\x80";
    std::vector<std::string> texts = {"1B4E28BA-2FA1-11D2-883F-0016D3CCA427",
                                      "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                                      "00000000-0000-0000-0000-000000000000",
                                      "ffffffff-ffff-ffff-ffff-ffffffffffff",
                                      "1b4e28ba-2fa1-11d2-883f-0016d3cca42",
                                      "1b4e28ba-2fa1-11d2-883f-0016d3cca4271",
                                      "1b4e28ba_2fa1-11d2-883f-0016d3cca427",
                                      "1b4e28ba-2fa1-11d2-883f-0016d3cca42g",
                                      "g1b4e28b-2fa1-11d2-883f-0016d3cca427",
                                      "1b4e28ba2-fa1-11d2-883f-0016d3cca427",
                                      "+b4e28ba-2fa1-11d2-883f-0016d3cca427",
                                      " b4e28ba-2fa1-11d2-883f-0016d3cca427",
                                      "",
                                      "not-a-uuid"};
    for (int i = 0; i < 20000; ++i) {
        // A valid one with one byte replaced, or 36 random bytes of the alphabet.
        std::string text = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        if (i % 2 == 0)
            text[random() % 36] = alphabet[random() % alphabet.size()];
        else
            for (size_t k = 0; k < text.size(); ++k)
                if (text[k] != '-' || i % 4 == 3) // hex digits only (22) where i % 4 == 1
                    text[k] = alphabet[random() % (i % 4 == 1 ? 22 : alphabet.size())];
        texts.push_back(text);
    }
    size_t accepted = 0;
    for (const std::string& text : texts) {
        uuid_t expected;
        unsigned char got[16];
        bool libuuid = uuid_parse(text.c_str(), expected) == 0;
        ASSERT_EQ(parse_uuid_bytes(text, got), libuuid) << text;
        if (!libuuid)
            continue;
        ++accepted;
        ASSERT_EQ(std::memcmp(got, expected, 16), 0) << text;
        char mine[37], theirs[37];
        format_uuid(got, mine);
        uuid_unparse_lower(expected, theirs);
        ASSERT_STREQ(mine, theirs);
        ASSERT_EQ(*parse_uuid(text), theirs);
    }
    EXPECT_GT(accepted, 2000u); // both outcomes met often
    EXPECT_LT(accepted, texts.size() - 2000);
}

// Version 5 ids from the bytes, with no string between: what libuuid's uuid_generate_sha1
// gives for the namespace and the name, and what message_uuid gives as text.
TEST(MessageId, MessageUuidBytesAreTheVersion5IdsOfLibuuid) {
    uuid_t ns;
    ASSERT_EQ(uuid_parse("4e6f6d6e-6f6d-5a1e-9c3b-6d7e8f901a2b", ns), 0);
    std::vector<std::string> names = {"order-42", "on-42-0", "x", std::string(300, 'n')};
    for (int i = 0; i < 1000; ++i)
        names.push_back("on-42-" + std::to_string(i * 7919));
    for (const std::string& name : names) {
        unsigned char got[16];
        uuid_t expected;
        message_uuid_bytes("S", 7, nullptr, name.c_str(), got);
        uuid_generate_sha1(expected, ns, name.data(), name.size());
        ASSERT_EQ(std::memcmp(got, expected, 16), 0) << name;
        char text[37];
        format_uuid(got, text);
        ASSERT_EQ(message_uuid("S", 7, nullptr, name.c_str()), text);
        ASSERT_EQ(message_uuid_from_id(name), text);
    }
    for (const std::string& stream :
         std::vector<std::string>{"MESSAGES", "S", std::string(400, 's')}) {
        for (uint64_t seq : {uint64_t(0), uint64_t(7), uint64_t(18446744073709551615ULL)}) {
            unsigned char got[16];
            uuid_t expected;
            std::string name = stream + ":" + std::to_string(seq);
            uuid_generate_sha1(expected, ns, name.data(), name.size());
            message_uuid_bytes(stream, seq, "not-a-uuid", "", got);
            ASSERT_EQ(std::memcmp(got, expected, 16), 0) << name;
            char text[37];
            format_uuid(got, text);
            ASSERT_EQ(message_uuid_from_sequence(stream, seq), text);
        }
    }
    unsigned char got[16];
    message_uuid_bytes("S", 7, "1B4E28BA-2FA1-11D2-883F-0016D3CCA427", "order-42", got);
    char text[37];
    format_uuid(got, text);
    EXPECT_STREQ(text, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
}
