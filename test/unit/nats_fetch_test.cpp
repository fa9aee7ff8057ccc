// fetch_bounded against a real nats-server (JetStream on, in a temp folder): messages an
// earlier pull left in the subscription, then late ones, never make a fetch hand back more
// than its batch. nats.c 3.4.1's natsSubscription_FetchRequest did here (15 messages in an
// array of 10: a heap overflow, the worker's "malloc(): unsorted double linked list
// corrupted"); see nomnom/nats_fetch.hpp. And read_js_delivery (nomnom/js_delivery.hpp) on
// the messages such a fetch hands back, against natsMsg_GetMetaData.
#include "nomnom/nats_fetch.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "nats_test_server.hpp"
#include "nomnom/backoff.hpp"
#include "nomnom/js_delivery.hpp"

namespace {

using nats_test::find_nats_server;
using nats_test::free_port;
using nats_test::wait_until;

class NatsFetch : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string server = find_nats_server();
        ASSERT_FALSE(server.empty()) << "nats-server is not installed (make deps)";
        char dir_template[] = "/tmp/nomnom-fetch-test-XXXXXX";
        ASSERT_NE(mkdtemp(dir_template), nullptr);
        dir_ = dir_template;
        port_ = free_port();
        ASSERT_GT(port_, 0);
        ASSERT_EQ(nats_test::spawn_nats_server(server, port_, dir_, &pid_), 0);
        std::string url = "nats://127.0.0.1:" + std::to_string(port_);
        ASSERT_TRUE(wait_until(
            10000, [&] { return natsConnection_ConnectTo(&nc_, url.c_str()) == NATS_OK; }))
            << "nats-server did not answer on " << url;
        ASSERT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
    }
    void TearDown() override {
        if (sub_ != nullptr)
            natsSubscription_Destroy(sub_);
        jsCtx_Destroy(js_);
        natsConnection_Destroy(nc_);
        nats_test::stop_nats_server(pid_, dir_);
    }

    void publish(const char* subject, int n) {
        for (int i = 0; i < n; i++) {
            std::string body = std::string(subject) + " " + std::to_string(i);
            ASSERT_EQ(js_Publish(nullptr, js_, subject, body.data(), static_cast<int>(body.size()),
                                 nullptr, nullptr),
                      NATS_OK);
        }
    }
    void add_consumer(const char* name, const char* filter, int64_t ack_wait_ms = 0) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = name;
        cc.FilterSubject = filter;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = ack_wait_ms * 1000000; // 0: the server's 30 s
        jsConsumerInfo* ci = nullptr;
        ASSERT_EQ(js_AddConsumer(&ci, js_, "FETCHT", &cc, nullptr, nullptr), NATS_OK);
        jsConsumerInfo_Destroy(ci);
    }
    // Stream FETCHT (ft.>), consumers A (ft.x: the worker's, subscribed in sub_; its ack_wait
    // `a_ack_wait_ms`, 0: the server's) and B (ft.y: another, whose pulls answer into A's inbox).
    void add_stream_and_subscribe(int64_t a_ack_wait_ms = 0) {
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        const char* subjects[] = {"ft.>"};
        cfg.Name = "FETCHT";
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        jsStreamInfo* si = nullptr;
        ASSERT_EQ(js_AddStream(&si, js_, &cfg, nullptr, nullptr), NATS_OK);
        jsStreamInfo_Destroy(si);
        add_consumer("A", "ft.x", a_ack_wait_ms);
        add_consumer("B", "ft.y");
        ASSERT_EQ(js_PullSubscribe(&sub_, js_, "ft.x", "A", nullptr, nullptr, nullptr), NATS_OK);
    }
    // A pull of consumer `consumer`'s messages whose answers go to our subscription's inbox,
    // as a pull that nats.c no longer waits for.
    void raw_pull(const char* consumer, int batch, int64_t expires_ms) {
        std::string subject = std::string("$JS.API.CONSUMER.MSG.NEXT.FETCHT.") + consumer;
        std::string body = "{\"batch\":" + std::to_string(batch) +
                           ",\"expires\":" + std::to_string(expires_ms * 1000000) + "}";
        ASSERT_EQ(natsConnection_PublishRequestString(
                      nc_, subject.c_str(), natsSubscription_GetSubject(sub_), body.c_str()),
                  NATS_OK);
        ASSERT_EQ(natsConnection_Flush(nc_), NATS_OK);
    }
    int pending() {
        int msgs = 0;
        natsSubscription_GetPending(sub_, &msgs, nullptr);
        return msgs;
    }
    // A status message (408, a pull's expiry) in our subscription's inbox, as one that came
    // after nats.c gave up on its pull: a pull of B's, which has nothing, expiring at once.
    void stray_status() {
        int before = pending();
        raw_pull("B", 1, 20);
        ASSERT_TRUE(wait_until(5000, [&] { return pending() == before + 1; })) << pending();
    }
    uint64_t ack_pending(const char* consumer) {
        jsConsumerInfo* ci = nullptr;
        if (js_GetConsumerInfo(&ci, js_, "FETCHT", consumer, nullptr, nullptr) != NATS_OK)
            return 0;
        uint64_t n = static_cast<uint64_t>(ci->NumAckPending);
        jsConsumerInfo_Destroy(ci);
        return n;
    }

    std::string dir_;
    int port_ = 0;
    pid_t pid_ = 0;
    natsConnection* nc_ = nullptr;
    jsCtx* js_ = nullptr;
    natsSubscription* sub_ = nullptr;
};

TEST_F(NatsFetch, LeftoversAndLateMessagesNeverPassTheBatch) {
    ASSERT_NO_FATAL_FAILURE(add_stream_and_subscribe());

    // 8 messages left in the subscription by a pull nats.c gave up on, and 13 of A's: the
    // leftovers are the batch, with no pull after them (nats.c 3.4.1 alone: 8 + 10 in an
    // array of 10).
    publish("ft.y", 8);
    raw_pull("B", 8, 5000);
    ASSERT_TRUE(wait_until(5000, [&] { return pending() == 8; })) << pending();
    publish("ft.x", 13);
    natsMsgList list = {nullptr, 0};
    natsStatus s = nomnom::fetch_bounded(&list, sub_, 10, 0, 3000);
    EXPECT_EQ(s, NATS_OK);
    EXPECT_EQ(list.Count, 8);
    for (int i = 0; i < list.Count; i++)
        EXPECT_EQ(std::string(natsMsg_GetSubject(list.Msgs[i])), "ft.y") << i;
    EXPECT_EQ(ack_pending("A"), 0u); // no pull of A's went out
    natsMsgList_Destroy(&list);

    // A fetch's own pull, and a pull still waiting whose 5 come late: once the fetch got its
    // own (consumer A acknowledgement-pending). The fetch stops at its batch.
    raw_pull("B", 5, 10000);
    std::thread late([&] {
        if (wait_until(5000, [&] { return ack_pending("A") >= 2; }))
            publish("ft.y", 5);
    });
    s = nomnom::fetch_bounded(&list, sub_, 10, 0, 3000);
    EXPECT_EQ(s, NATS_OK);
    EXPECT_EQ(list.Count, 10);
    int late_ones = 0;
    for (int i = 0; i < list.Count; i++)
        late_ones += std::string(natsMsg_GetSubject(list.Msgs[i])) == "ft.y";
    natsMsgList_Destroy(&list);
    late.join();

    // What the fetch left (A's or the late ones) waits in the subscription: the next fetch
    // takes it, and no more.
    ASSERT_TRUE(wait_until(5000, [&] { return pending() == 5; })) << pending();
    s = nomnom::fetch_bounded(&list, sub_, 10, 0, 3000);
    EXPECT_EQ(s, NATS_OK);
    EXPECT_EQ(list.Count, 5);
    for (int i = 0; i < list.Count; i++)
        late_ones += std::string(natsMsg_GetSubject(list.Msgs[i])) == "ft.y";
    EXPECT_EQ(late_ones, 5);
    natsMsgList_Destroy(&list);

    // Nothing left over: an ordinary fetch (the 3 of A's that remain, at once).
    EXPECT_EQ(pending(), 0);
    s = nomnom::fetch_bounded(&list, sub_, 10, 0, 1000);
    EXPECT_EQ(s, NATS_OK);
    EXPECT_EQ(list.Count, 3);
    natsMsgList_Destroy(&list);
}

// Leftovers are handed over at once, as the batch, with no pull after them: on nats-server
// 2.9.10 a top-up's no_wait pull with an expiry waits out that expiry when the consumer has
// nothing, and so did the pull of 1 a stray status behind them cost. Meanwhile nobody could
// mark the leftovers in progress: past A's ack_wait of 500 ms the server redelivered them,
// into that very pull (the old code handed over 4 + 4 here, the second 4 delivered twice).
TEST_F(NatsFetch, LeftoversAreHandedOverWithNoPullAfterThem) {
    ASSERT_NO_FATAL_FAILURE(add_stream_and_subscribe(500));
    auto delivered_once = [](const natsMsgList& list) {
        int once = 0;
        for (int i = 0; i < list.Count; i++) {
            nomnom::JsDelivery d;
            once += nomnom::read_js_delivery(list.Msgs[i], d) && d.delivered == 1;
        }
        return once;
    };
    auto ack_all = [](natsMsgList& list) {
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], nullptr);
        natsMsgList_Destroy(&list);
    };
    // 4 of A's, pulled into the inbox by a pull nats.c gave up on; A has nothing more.
    publish("ft.x", 4);
    raw_pull("A", 4, 5000);
    ASSERT_TRUE(wait_until(5000, [&] { return pending() == 4; })) << pending();
    natsMsgList list = {nullptr, 0};
    EXPECT_EQ(nomnom::fetch_bounded(&list, sub_, 10, 0, 3000), NATS_OK);
    EXPECT_EQ(list.Count, 4);
    EXPECT_EQ(delivered_once(list), 4);
    ack_all(list);

    // 2 more of A's, then a stray status behind them: the status is dropped, no pull sent.
    publish("ft.x", 2);
    raw_pull("A", 2, 5000);
    ASSERT_TRUE(wait_until(5000, [&] { return pending() == 2; })) << pending();
    ASSERT_NO_FATAL_FAILURE(stray_status());
    EXPECT_EQ(nomnom::fetch_bounded(&list, sub_, 10, 0, 3000), NATS_OK);
    EXPECT_EQ(list.Count, 2);
    EXPECT_EQ(delivered_once(list), 2);
    EXPECT_EQ(pending(), 0);
    ack_all(list);

    // A stray status alone is no leftover: the fetch is an ordinary one, a whole batch.
    publish("ft.x", 3);
    ASSERT_NO_FATAL_FAILURE(stray_status());
    EXPECT_EQ(nomnom::fetch_bounded(&list, sub_, 10, 0, 3000), NATS_OK);
    EXPECT_EQ(list.Count, 3);
    EXPECT_EQ(delivered_once(list), 3);
    ack_all(list);
}

// What reaches the subscription after a fetch returned joins that fetch's batch, after its
// messages, up to the batch's size and bytes (the prefetch thread's late messages).
TEST_F(NatsFetch, LateMessagesJoinTheBatchWithinItsBounds) {
    ASSERT_NO_FATAL_FAILURE(add_stream_and_subscribe());
    publish("ft.x", 3);
    natsMsgList list = {nullptr, 0};
    ASSERT_EQ(nomnom::fetch_bounded(&list, sub_, 10, 0, 1000), NATS_OK);
    ASSERT_EQ(list.Count, 3);
    EXPECT_EQ(nomnom::take_late_messages(&list, sub_, 10, 0), 0); // nothing came
    EXPECT_EQ(list.Count, 3);

    // 12 come after the fetch (bodies "ft.y 0" ... "ft.y 11"): 7 fill the batch of 10.
    publish("ft.y", 12);
    raw_pull("B", 12, 5000);
    ASSERT_TRUE(wait_until(5000, [&] { return pending() == 12; })) << pending();
    EXPECT_EQ(nomnom::take_late_messages(&list, sub_, 10, 0), 7);
    ASSERT_EQ(list.Count, 10);
    for (int i = 0; i < list.Count; i++)
        EXPECT_EQ(std::string(natsMsg_GetSubject(list.Msgs[i])), i < 3 ? "ft.x" : "ft.y") << i;
    EXPECT_EQ(std::string(natsMsg_GetData(list.Msgs[9]), natsMsg_GetDataLength(list.Msgs[9])),
              "ft.y 6");
    EXPECT_EQ(nomnom::take_late_messages(&list, sub_, 10, 0), 0); // full
    EXPECT_EQ(pending(), 5);
    natsMsgList_Destroy(&list);

    // Bounded by bytes as a fetch is: "ft.y 7" and "ft.y 8" make 12 bytes, then no more.
    natsMsgList empty = {nullptr, 0};
    EXPECT_EQ(nomnom::take_late_messages(&empty, sub_, 10, 12), 2);
    EXPECT_EQ(empty.Count, 2);
    EXPECT_EQ(nomnom::take_late_messages(&empty, sub_, 10, 12), 0);
    EXPECT_EQ(pending(), 3);
    natsMsgList_Destroy(&empty);
}

// read_js_delivery (nomnom/js_delivery.hpp) gives what natsMsg_GetMetaData gives, for real
// deliveries of this server: first ones and redeliveries, pending counting down.
TEST_F(NatsFetch, DeliveryMetadataAsNatsMsgGetMetaData) {
    ASSERT_NO_FATAL_FAILURE(add_stream_and_subscribe());
    publish("ft.y", 3); // stream sequences 1-3 are not the consumer's
    publish("ft.x", 6);

    int compared = 0, redelivered = 0;
    for (int round = 0; round < 3; round++) {
        natsMsgList list = {nullptr, 0};
        ASSERT_EQ(nomnom::fetch_bounded(&list, sub_, 4, 0, 3000), NATS_OK);
        ASSERT_GT(list.Count, 0);
        for (int i = 0; i < list.Count; i++) {
            natsMsg* msg = list.Msgs[i];
            jsMsgMetaData* meta = nullptr;
            ASSERT_EQ(natsMsg_GetMetaData(&meta, msg), NATS_OK);
            nomnom::JsDelivery got;
            ASSERT_TRUE(nomnom::read_js_delivery(msg, got)) << natsMsg_GetReply(msg);
            EXPECT_EQ(got.stream_seq, meta->Sequence.Stream);
            EXPECT_EQ(got.delivered, meta->NumDelivered);
            EXPECT_EQ(got.timestamp_ns, meta->Timestamp);
            EXPECT_EQ(got.pending, meta->NumPending);
            EXPECT_GE(got.stream_seq, 4u);
            EXPECT_GT(got.timestamp_ns, 0);
            redelivered += got.delivered > 1;
            jsMsgMetaData_Destroy(meta);
            ++compared;
            // The first round's messages come again in the next (delivered 2).
            if (round == 0)
                natsMsg_Nak(msg, nullptr);
            else
                natsMsg_Ack(msg, nullptr);
        }
        natsMsgList_Destroy(&list);
    }
    EXPECT_GE(compared, 8);
    EXPECT_GE(redelivered, 1);
}

// Replies that are not JetStream's, or that nats.c's parser refuses, give nothing (and leave
// the output as it was); the newer 12-token form is read as the 9-token one.
TEST(JsDelivery, RepliesOfOtherFormsAndBadOnes) {
    ASSERT_EQ(nats_Open(-1), NATS_OK); // natsMsg_Create needs the library (a connection opens it)
    auto read = [](const char* reply, nomnom::JsDelivery& out) {
        natsMsg* msg = nullptr;
        EXPECT_EQ(natsMsg_Create(&msg, "s", *reply ? reply : nullptr, "x", 1), NATS_OK);
        bool ok = nomnom::read_js_delivery(msg, out);
        natsMsg_Destroy(msg);
        return ok;
    };
    nomnom::JsDelivery out;
    ASSERT_TRUE(read("$JS.ACK.ORDERS.worker.2.17.9.1700000000123456789.40", out));
    EXPECT_EQ(out.delivered, 2u);
    EXPECT_EQ(out.stream_seq, 17u);
    EXPECT_EQ(out.timestamp_ns, 1700000000123456789);
    EXPECT_EQ(out.pending, 40u);
    ASSERT_TRUE(read("$JS.ACK._.ACCHASH.ORDERS.worker.3.18.10.1700000000000000001.0.xyz", out));
    EXPECT_EQ(out.delivered, 3u);
    EXPECT_EQ(out.stream_seq, 18u);
    EXPECT_EQ(out.timestamp_ns, 1700000000000000001);
    EXPECT_EQ(out.pending, 0u);
    for (const char* bad : {
             "",                                            // no reply
             "_INBOX.abc",                                  // not JetStream's
             "$JS.ACKX.ORDERS.worker.2.17.9.1700000000.40", // not its prefix
             "$JS.ACK.ORDERS.worker.2.17.9.1700000000",     // a token short
             "$JS.ACK.ORDERS.worker.2.17.x.1700000000.40",  // the consumer sequence
             "$JS.ACK.ORDERS.worker.2.17.9.1700000000.4a",  // the pending count
             "$JS.ACK.D.H.ORDERS.worker.2.17.9.1700000000", // 8 tokens
         }) {
        nomnom::JsDelivery kept;
        kept.stream_seq = 99;
        EXPECT_FALSE(read(bad, kept)) << bad;
        EXPECT_EQ(kept.stream_seq, 99u) << bad;
    }
}

} // namespace
