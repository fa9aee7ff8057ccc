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

TEST(StreamOptions, IntegersAreNormalised) {
    std::string out, error;
    ASSERT_TRUE(
        normalize_stream_options(R"({"workers": 2.0, "batch_size": "100", "max_age": "300000.0",
                                             "max_deliver": 7, "entity": "Order", "routes": null})",
                                 out, error))
        << error;
    EXPECT_EQ(
        out,
        R"({"batch_size":100,"entity":"Order","max_age":300000,"max_deliver":7,"routes":null,"workers":2})");
    StreamOptions o;
    ASSERT_TRUE(parse_stream_options(R"({"workers": "2"})", o, error)) << error;
    EXPECT_EQ(o.workers, 2);
    for (const char* bad : {R"({"workers": 2.5})", R"({"workers": "two"})", R"({"workers": true})",
                            R"({"workers": "2x"})", R"({"workers": ""})", R"({"workers": [2]})",
                            R"({"workers": "0x2"})", R"({"max_bytes": 1e30})",
                            R"({"workers": "1e300"})", R"({"workers": {"n": 2}})"}) {
        EXPECT_FALSE(normalize_stream_options(bad, out, error)) << bad;
        EXPECT_NE(error.find("must be"), std::string::npos) << bad << ": " << error;
    }
    EXPECT_FALSE(normalize_stream_options(R"({"workers": "65"})", out, error));
    EXPECT_NE(error.find("between 0 and 64"), std::string::npos) << error;
}

TEST(StreamOptions, RunAsAndTrustHeaders) {
    StreamOptions o;
    std::string error;
    EXPECT_FALSE(o.trust_headers); // the default: headers do not route or name messages
    ASSERT_TRUE(parse_stream_options(R"({"run_as": "ingester", "trust_headers": true})", o, error));
    EXPECT_EQ(o.run_as, "ingester");
    EXPECT_TRUE(o.trust_headers);
    EXPECT_FALSE(parse_stream_options(R"({"run_as": ""})", o, error));
    EXPECT_FALSE(parse_stream_options(R"({"run_as": 5})", o, error));
    EXPECT_FALSE(parse_stream_options(R"({"trust_headers": "yes"})", o, error));
}

TEST(StreamOptions, EntityEvents) {
    StreamOptions o;
    std::string error;
    EXPECT_FALSE(o.publish_entities); // the default: no entity events
    EXPECT_EQ(o.entities_stream, "ENTITIES");
    ASSERT_TRUE(
        parse_stream_options(R"({"publish_entities": true, "entities_stream": "EV"})", o, error))
        << error;
    EXPECT_TRUE(o.publish_entities);
    EXPECT_EQ(o.entities_stream, "EV");
    EXPECT_FALSE(parse_stream_options(R"({"publish_entities": "yes"})", o, error));
    EXPECT_NE(error.find("publish_entities"), std::string::npos) << error;
    EXPECT_FALSE(parse_stream_options(R"({"entities_stream": "a.b"})", o, error));
    EXPECT_NE(error.find("entities_stream"), std::string::npos) << error;
    StreamOptions same;
    EXPECT_FALSE(parse_stream_options(
        R"({"publish_entities": true, "entities_stream": "D", "dlq_stream": "D"})", same, error));
    EXPECT_NE(error.find("cannot name the same stream"), std::string::npos) << error;
    EXPECT_EQ(entity_event_subject("OrderLineItem"), "entities.OrderLineItem");
    EXPECT_EQ(entity_event_subject("a.b c"), "entities.a_b_c");
}

TEST(StreamOptions, NatsUrl) {
    std::string error;
    for (const char* good :
         {"nats://127.0.0.1:4222", "tls://nats.example.com:4443", "127.0.0.1:4222", "localhost",
          "nats://a:4222,nats://b:4222,nats://c:4222", "nats://a:4222, tls://b:4222",
          "nats://user:secret@host:4222", "nats://[::1]:4222", "tls://h:1/"}) {
        EXPECT_TRUE(valid_nats_url(good, error)) << good << ": " << error;
    }
    struct Bad {
        const char* url;
        const char* says;
    };
    for (const Bad& bad :
         {Bad{"", "empty"}, Bad{"http://h:4222", "unknown scheme"}, Bad{"nats://h:0", "port"},
          Bad{"nats://h:65536", "port"}, Bad{"nats://h:x", "port"},
          Bad{"nats://h:", "port must be a number"}, Bad{"nats://", "no host"},
          Bad{"nats://a:4222,", "empty entry"}, Bad{"nats://h:4222/path", "path"},
          Bad{"nats://h o:4222", "whitespace"}, Bad{"nats://[::1:4222", "unclosed"}}) {
        EXPECT_FALSE(valid_nats_url(bad.url, error)) << bad.url;
        EXPECT_NE(error.find(bad.says), std::string::npos) << bad.url << ": " << error;
    }
    EXPECT_FALSE(valid_nats_url("nats://user:secret@h:99999", error));
    EXPECT_EQ(error.find("secret"), std::string::npos) << error; // user info is never shown
    StreamOptions o;
    EXPECT_FALSE(parse_stream_options(R"({"nats_url": "nats://a:4222,,b"})", o, error));
}

TEST(StreamOptions, NatsConnectionOptions) {
    StreamOptions o;
    std::string error;
    ASSERT_TRUE(parse_stream_options(
        R"({"nats_url": "tls://a:1,tls://b:2", "nats_user": "w", "nats_password_file": "/pw",
            "nats_tls_ca_file": "/ca", "nats_tls_cert_file": "/c", "nats_tls_key_file": "/k"})",
        o, error))
        << error;
    NatsConnectConfig c = nats_connect_config(o);
    EXPECT_EQ(c.url, "tls://a:1,tls://b:2");
    EXPECT_EQ(c.user, "w");
    EXPECT_EQ(c.password_file, "/pw");
    EXPECT_EQ(c.tls_ca_file, "/ca");
    EXPECT_EQ(c.tls_cert_file, "/c");
    EXPECT_EQ(c.tls_key_file, "/k");

    StreamOptions p;
    ASSERT_TRUE(parse_stream_options(R"({"nats_creds_file": "/u.creds"})", p, error)) << error;
    EXPECT_EQ(nats_connect_config(p).creds_file, "/u.creds");
    ASSERT_TRUE(parse_stream_options(R"({"nats_nkey_seed_file": "/s"})", p = {}, error));
    EXPECT_EQ(nats_connect_config(p).nkey_seed_file, "/s");
    ASSERT_TRUE(parse_stream_options(R"({"nats_token_file": "/t"})", p = {}, error));
    EXPECT_EQ(nats_connect_config(p).token_file, "/t");

    EXPECT_FALSE(parse_stream_options(R"({"nats_user": "w"})", p = {}, error));
    EXPECT_NE(error.find("nats_password_file"), std::string::npos) << error;
    EXPECT_FALSE(parse_stream_options(R"({"nats_token_file": "/t", "nats_creds_file": "/c"})",
                                      p = {}, error));
    EXPECT_FALSE(parse_stream_options(R"({"nats_tls_key_file": "/k"})", p = {}, error));
    EXPECT_FALSE(parse_stream_options(R"({"nats_token_file": 3})", p = {}, error));
    EXPECT_NE(error.find("nats_token_file"), std::string::npos) << error;
    EXPECT_FALSE(parse_stream_options(R"({"nats_url": "nats://a:1,,nats://b:2"})", p = {}, error));
    EXPECT_FALSE(parse_stream_options(R"({"nats_url": "nats://u:pw9@a:1,"})", p = {}, error));
    EXPECT_EQ(error.find("pw9"), std::string::npos) << error;
}
