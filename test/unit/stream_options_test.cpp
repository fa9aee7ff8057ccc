#include "nomnom/stream_options.hpp"

#include <gtest/gtest.h>

using namespace nomnom;

TEST(StreamOptions, DefaultsAndOverrides) {
    StreamOptions o;
    std::string error;
    ASSERT_TRUE(parse_stream_options(R"({"workers": 2, "batch_size": 1000, "track_status": false,
                                         "max_deliver": null, "storage": "memory"})",
                                     o, error))
        << error;
    EXPECT_EQ(o.workers, 2);
    EXPECT_EQ(o.batch_size, 1000);
    EXPECT_FALSE(o.track_status);
    EXPECT_EQ(o.max_deliver, 5);
    EXPECT_EQ(o.storage, "memory");
    EXPECT_EQ(o.consumer, "workers");
}

TEST(StreamOptions, RejectsUnknownAndBadValues) {
    StreamOptions o;
    std::string error;
    EXPECT_FALSE(parse_stream_options(R"({"wrokers": 2})", o, error));
    EXPECT_NE(error.find("wrokers"), std::string::npos);
    EXPECT_FALSE(parse_stream_options(R"({"batch_size": 0})", o, error));
    EXPECT_NE(error.find("batch_size"), std::string::npos);
    EXPECT_FALSE(parse_stream_options(R"({"workers": "two"})", o, error));
    EXPECT_FALSE(parse_stream_options(R"({"storage": "disk"})", o, error));
    EXPECT_FALSE(parse_stream_options(R"({"consumer": "a.b"})", o, error));
    EXPECT_FALSE(parse_stream_options(R"({"entity": "Order", "routes": {"a.b": "X"}})", o, error));
    EXPECT_FALSE(parse_stream_options(R"([1])", o, error));
}

TEST(StreamOptions, Subjects) {
    EXPECT_TRUE(valid_subject("messages.ingest.>", true));
    EXPECT_FALSE(valid_subject("messages.ingest.>", false));
    EXPECT_FALSE(valid_subject("messages..x", true));
    EXPECT_FALSE(valid_subject("messages.>.x", true));
    EXPECT_TRUE(subject_matches("messages.ingest.>", "messages.ingest.Order"));
    EXPECT_TRUE(subject_matches("messages.*.Order", "messages.ingest.Order"));
    EXPECT_FALSE(subject_matches("messages.ingest.>", "messages.ingest"));
    EXPECT_FALSE(subject_matches("messages.ingest.Order", "messages.ingest.Order.x"));
    EXPECT_TRUE(valid_jetstream_name("MESSAGES"));
    EXPECT_FALSE(valid_jetstream_name("MY STREAM"));
}

TEST(StreamOptions, Routing) {
    StreamOptions o;
    std::string error;
    EXPECT_EQ(route_entity(o, "messages.ingest.Order", ""), "Order");
    EXPECT_EQ(route_entity(o, "messages.ingest.Order", "Invoice"), "Invoice");
    ASSERT_TRUE(parse_stream_options(R"({"routes": {"shop.orders.>": "Order"}})", o, error))
        << error;
    EXPECT_EQ(route_entity(o, "shop.orders.eu", ""), "Order");
    EXPECT_EQ(route_entity(o, "shop.other", ""), "other");
    StreamOptions fixed;
    ASSERT_TRUE(parse_stream_options(R"({"entity": "Order"})", fixed, error));
    EXPECT_EQ(route_entity(fixed, "anything.x", ""), "Order");
    EXPECT_EQ(dlq_subject("Order"), "messages.dlq.Order");
    EXPECT_EQ(dlq_subject(""), "messages.dlq.unknown");
    EXPECT_EQ(dlq_subject("a.b c"), "messages.dlq.a_b_c");
}
