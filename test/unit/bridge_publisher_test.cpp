// The bridge's Publisher (bridge/src/publisher.hpp) against a real nats-server (JetStream on,
// in a temp folder): every outcome names the sequence at which JetStream stored exactly that
// message (checked by reading the message at that sequence back), with requests publishing
// at once and reply ids used again; duplicates, a subject no stream takes, a full stream; and
// answers that come after their request timed out (nats-server stopped meanwhile) match none
// of the messages published after.
#include "publisher.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "nats_test_server.hpp"

namespace {

using nats_test::wait_until;

// The documents of one request: ids "<tag>-<i>", entity "E<i % 3>".
struct Batch {
    std::vector<std::string> ids, entities, payloads;
    std::vector<bridge::PublishItem> items;
    Batch(const std::string& tag, int n, const char* subject = "pt.orders") {
        for (int i = 0; i < n; ++i) {
            ids.push_back(tag + "-" + std::to_string(i));
            entities.push_back("E" + std::to_string(i % 3));
            payloads.push_back("{\"n\":" + std::to_string(i) + ",\"tag\":\"" + tag + "\"}");
        }
        for (int i = 0; i < n; ++i)
            items.push_back({subject, ids[i].c_str(), entities[i].c_str(), payloads[i]});
    }
};

class BridgePublisher : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string server = nats_test::find_nats_server();
        ASSERT_FALSE(server.empty()) << "nats-server is not installed (make deps)";
        char dir_template[] = "/tmp/nomnom-publisher-test-XXXXXX";
        ASSERT_NE(mkdtemp(dir_template), nullptr);
        dir_ = dir_template;
        int port = nats_test::free_port();
        ASSERT_GT(port, 0);
        ASSERT_EQ(nats_test::spawn_nats_server(server, port, dir_, &pid_), 0);
        url_ = "nats://127.0.0.1:" + std::to_string(port);
        ASSERT_TRUE(wait_until(
            10000, [&] { return natsConnection_ConnectTo(&nc_, url_.c_str()) == NATS_OK; }))
            << "nats-server did not answer on " << url_;
        ASSERT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
        add_stream("PUBT", "pt.>", -1);
    }
    void TearDown() override {
        if (pid_ > 0)
            kill(pid_, SIGCONT); // a stopped server would hold up the publisher's close
        publisher_.reset();
        jsCtx_Destroy(js_);
        natsConnection_Destroy(nc_);
        nats_test::stop_nats_server(pid_, dir_);
    }
    void add_stream(const char* name, const char* subject, int64_t max_msgs) {
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        const char* subjects[] = {subject};
        cfg.Name = name;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.MaxMsgs = max_msgs;
        cfg.Discard = js_DiscardNew;
        jsStreamInfo* si = nullptr;
        ASSERT_EQ(js_AddStream(&si, js_, &cfg, nullptr, nullptr), NATS_OK);
        jsStreamInfo_Destroy(si);
    }
    void start_publisher(int64_t timeout_ms) {
        nomnom::NatsConnectConfig cfg;
        cfg.url = url_;
        publisher_ = std::make_unique<bridge::Publisher>(cfg, "PUBT", timeout_ms);
        std::string error;
        ASSERT_TRUE(publisher_->start(error)) << error;
        ASSERT_TRUE(wait_until(5000, [&] { return publisher_->connected(); }));
    }
    // Each outcome stored, and the message JetStream holds at its sequence is that item's.
    void expect_matched(const Batch& b, const std::vector<bridge::PublishOutcome>& out,
                        const char* stream = "PUBT") {
        ASSERT_EQ(out.size(), b.items.size());
        for (size_t i = 0; i < out.size(); ++i) {
            ASSERT_TRUE(out[i].stored) << b.ids[i] << ": " << out[i].error;
            EXPECT_EQ(out[i].stream, stream);
            natsMsg* m = nullptr;
            ASSERT_EQ(js_GetMsg(&m, js_, stream, out[i].seq, nullptr, nullptr), NATS_OK)
                << b.ids[i] << " seq " << out[i].seq;
            const char* id = nullptr;
            const char* entity = nullptr;
            natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
            natsMsgHeader_Get(m, "Nomnom-Entity", &entity);
            EXPECT_STREQ(id, b.ids[i].c_str())
                << "the ack of another message, at seq " << out[i].seq;
            EXPECT_STREQ(entity, b.entities[i].c_str());
            EXPECT_EQ(std::string(natsMsg_GetData(m), natsMsg_GetDataLength(m)), b.payloads[i]);
            natsMsg_Destroy(m);
        }
    }

    std::string dir_, url_;
    pid_t pid_ = 0;
    natsConnection* nc_ = nullptr;
    jsCtx* js_ = nullptr;
    std::unique_ptr<bridge::Publisher> publisher_;
};

TEST_F(BridgePublisher, EveryAckIsItsOwnMessagesWithRequestsAtOnce) {
    ASSERT_NO_FATAL_FAILURE(start_publisher(5000));
    for (int round = 0; round < 2; ++round) { // the second round uses the first's reply ids
        Batch a("a" + std::to_string(round), 300), b("b" + std::to_string(round), 300);
        std::vector<bridge::PublishOutcome> out_a, out_b;
        std::thread other([&] { out_b = publisher_->publish(b.items); });
        out_a = publisher_->publish(a.items);
        other.join();
        expect_matched(a, out_a);
        expect_matched(b, out_b);
    }
}

TEST_F(BridgePublisher, DuplicatesNoStreamAndAFullStream) {
    add_stream("SMALL", "small.>", 3);
    ASSERT_NO_FATAL_FAILURE(start_publisher(5000));
    Batch first("d", 2);
    auto out = publisher_->publish(first.items);
    expect_matched(first, out);
    auto again = publisher_->publish(first.items);
    ASSERT_EQ(again.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_TRUE(again[i].stored && again[i].duplicate);
        EXPECT_EQ(again[i].seq, out[i].seq);
    }

    Batch nowhere("n", 1, "nostream.x");
    auto lost = publisher_->publish(nowhere.items);
    ASSERT_EQ(lost.size(), 1u);
    EXPECT_FALSE(lost[0].stored);
    EXPECT_EQ(lost[0].http_status, 503);
    EXPECT_NE(lost[0].error.find("No responders"), std::string::npos) << lost[0].error;

    Batch many("f", 5, "small.x");
    auto full = publisher_->publish(many.items);
    ASSERT_EQ(full.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(full[i].stored, i < 3) << i << ": " << full[i].error;
        if (i >= 3) {
            EXPECT_EQ(full[i].http_status, 507) << full[i].error;
            EXPECT_NE(full[i].error.find("maximum messages"), std::string::npos) << full[i].error;
        }
    }
}

TEST_F(BridgePublisher, LateAcksMatchNoLaterMessage) {
    ASSERT_NO_FATAL_FAILURE(start_publisher(300));
    Batch warm("w", 20); // reply ids 1..20 answered, free to use again
    expect_matched(warm, publisher_->publish(warm.items));

    ASSERT_EQ(kill(pid_, SIGSTOP), 0);
    Batch stalled("s", 20);
    auto out = publisher_->publish(stalled.items);
    for (const auto& o : out) {
        EXPECT_FALSE(o.stored);
        EXPECT_EQ(o.http_status, 503);
        EXPECT_NE(o.error.find("timed out"), std::string::npos) << o.error;
    }
    ASSERT_EQ(kill(pid_, SIGCONT), 0);
    // Published at once: nats-server answers the stalled messages first, on their reply
    // ids; a publisher that used those ids again (or matched answers by order) would take
    // those answers for these messages.
    Batch after("t", 20);
    expect_matched(after, publisher_->publish(after.items));
    // The stalled ones were stored in the end (a client's retry with the same id is a
    // duplicate), and a fresh round still matches.
    Batch last("u", 20);
    expect_matched(last, publisher_->publish(last.items));
}

} // namespace
