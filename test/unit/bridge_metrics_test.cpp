// /metrics: Prometheus text with the counters and a cumulative latency histogram.
#include "api.hpp"
#include "metrics.hpp"

#include <gtest/gtest.h>

using namespace bridge;

TEST(BridgeMetrics, RendersCountersAndHistogram) {
    Metrics m;
    m.observe_request(Endpoint::IngestMessage, 202, 0.0007);
    m.observe_request(Endpoint::IngestMessage, 202, 0.003);
    m.observe_request(Endpoint::IngestMessage, 503, 7.0);
    m.published += 2;
    m.status_rows_dropped += 1;
    m.add_gauge("nomnom_bridge_test_gauge", "A gauge.", [] { return 3.0; });
    std::string text = m.render();
    EXPECT_NE(text.find("nomnom_bridge_requests_total{endpoint=\"ingest_message\",code=\"202\"} 2"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("nomnom_bridge_requests_total{endpoint=\"ingest_message\",code=\"503\"} 1"),
              std::string::npos);
    EXPECT_NE(text.find("nomnom_bridge_request_duration_seconds_bucket{endpoint=\"ingest_message\","
                        "le=\"0.001\"} 1"),
              std::string::npos);
    EXPECT_NE(text.find("nomnom_bridge_request_duration_seconds_bucket{endpoint=\"ingest_message\","
                        "le=\"0.005\"} 2"),
              std::string::npos);
    EXPECT_NE(text.find("nomnom_bridge_request_duration_seconds_bucket{endpoint=\"ingest_message\","
                        "le=\"+Inf\"} 3"),
              std::string::npos);
    EXPECT_NE(
        text.find("nomnom_bridge_request_duration_seconds_count{endpoint=\"ingest_message\"} 3"),
        std::string::npos);
    EXPECT_NE(text.find("nomnom_bridge_published_total 2"), std::string::npos);
    EXPECT_NE(text.find("nomnom_bridge_status_rows_dropped_total 1"), std::string::npos);
    EXPECT_NE(text.find("nomnom_bridge_test_gauge 3"), std::string::npos);
}

TEST(BridgeApi, JsonErrorsAndTokens) {
    HttpResponse r = json_error(400, "bad \"thing\"");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, "{\"error\":\"bad \\\"thing\\\"\"}");
    r = json_error(503, "down");
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "Retry-After");
    EXPECT_TRUE(token_equals("secret", "secret"));
    EXPECT_FALSE(token_equals("secret", "secreT"));
    EXPECT_FALSE(token_equals("secret", "secret2"));
    EXPECT_FALSE(token_equals("", "x"));
}
