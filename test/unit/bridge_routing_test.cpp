// Routing: endpoints from paths, the entity of a request, the subject of an entity.
#include "routing.hpp"

#include <gtest/gtest.h>

using namespace bridge;

namespace {
Catalog tpch() {
    Catalog c;
    c.loaded = true;
    c.entities = {{"Order", ""}, {"OrderLineItem", "Order"}};
    return c;
}
} // namespace

TEST(BridgeRouting, Paths) {
    EXPECT_EQ(route_path("/ingest/message").endpoint, Endpoint::IngestMessage);
    EXPECT_EQ(route_path("/ingest/message").arg, "");
    Route r = route_path("/ingest/message/Order");
    EXPECT_EQ(r.endpoint, Endpoint::IngestMessage);
    EXPECT_EQ(r.arg, "Order");
    r = route_path("/ingest/batch/Order");
    EXPECT_EQ(r.endpoint, Endpoint::IngestBatch);
    EXPECT_EQ(r.arg, "Order");
    EXPECT_EQ(route_path("/ingest/batch").endpoint, Endpoint::IngestBatch);
    r = route_path("/ingest/status/0f0e");
    EXPECT_EQ(r.endpoint, Endpoint::Status);
    EXPECT_EQ(r.arg, "0f0e");
    EXPECT_EQ(route_path("/ingest/status").endpoint, Endpoint::NotFound);
    EXPECT_EQ(route_path("/ingest/message/a/b").endpoint, Endpoint::NotFound);
    EXPECT_EQ(route_path("/ingest/messages").endpoint, Endpoint::NotFound);
    EXPECT_EQ(route_path("/health").endpoint, Endpoint::Health);
    EXPECT_EQ(route_path("/health/").endpoint, Endpoint::Health);
    EXPECT_EQ(route_path("/ready").endpoint, Endpoint::Ready);
    EXPECT_EQ(route_path("/metrics").endpoint, Endpoint::Metrics);
    EXPECT_EQ(route_path("/").endpoint, Endpoint::Dashboard);
}

TEST(BridgeRouting, ConsolePaths) {
    EXPECT_EQ(route_path("/").arg, "");
    Route r = route_path("/assets/console.js");
    EXPECT_EQ(r.endpoint, Endpoint::Dashboard);
    EXPECT_EQ(r.arg, "console.js");
    EXPECT_EQ(route_path("/assets").endpoint, Endpoint::NotFound);
    EXPECT_EQ(route_path("/assets/a/b").endpoint, Endpoint::NotFound);
    EXPECT_EQ(route_path("/api/overview").endpoint, Endpoint::Overview);
    r = route_path("/api/messages/0f0e");
    EXPECT_EQ(r.endpoint, Endpoint::Message);
    EXPECT_EQ(r.arg, "0f0e");
    EXPECT_EQ(route_path("/api/messages").endpoint, Endpoint::NotFound);
    EXPECT_EQ(route_path("/api/dead-letters/replay").endpoint, Endpoint::Replay);
    EXPECT_EQ(route_path("/stats").endpoint, Endpoint::Stats);
    EXPECT_EQ(route_path("/openapi.json").endpoint, Endpoint::OpenApi);
}

TEST(BridgeRouting, EntityPrecedence) {
    Catalog c = tpch();
    c.entities.push_back({"Customer", ""});
    EntitySources s{"Order", "Customer", "Customer", "Customer"};
    EXPECT_EQ(resolve_entity(c, s).entity, "Order");
    s.path.clear();
    s.query = "Order";
    EXPECT_EQ(resolve_entity(c, s).entity, "Order");
    s.query.clear();
    s.header = "Order";
    EXPECT_EQ(resolve_entity(c, s).entity, "Order");
    s.header.clear();
    s.document = "Order";
    EXPECT_EQ(resolve_entity(c, s).entity, "Order");
}

TEST(BridgeRouting, SingleRootEntityIsTheDefault) {
    EntityResolution r = resolve_entity(tpch(), {});
    EXPECT_EQ(r.kind, EntityResolution::Ok);
    EXPECT_EQ(r.entity, "Order");
}

TEST(BridgeRouting, NoEntityWithSeveralRootsIsAmbiguous) {
    Catalog c = tpch();
    c.entities.push_back({"Customer", ""});
    EntityResolution r = resolve_entity(c, {});
    EXPECT_EQ(r.kind, EntityResolution::Ambiguous);
    EXPECT_NE(r.error.find("Customer, Order"), std::string::npos) << r.error;
}

TEST(BridgeRouting, UnknownEntityListsTheKnownOnes) {
    EntityResolution r = resolve_entity(tpch(), {"Invoice", "", "", ""});
    EXPECT_EQ(r.kind, EntityResolution::Unknown);
    EXPECT_NE(r.error.find("Invoice"), std::string::npos);
    EXPECT_NE(r.error.find("known entities: Order"), std::string::npos) << r.error;
}

TEST(BridgeRouting, AnUnauthenticatedCallerIsNotToldTheEntities) {
    Catalog c = tpch();
    c.entities.push_back({"Customer", ""});
    for (EntitySources s : {EntitySources{"Invoice", "", "", ""}, EntitySources{},
                            EntitySources{"OrderLineItem", "", "", ""}}) {
        EntityResolution r = resolve_entity(c, s, false);
        EXPECT_NE(r.kind, EntityResolution::Ok);
        EXPECT_EQ(r.error.find("Customer"), std::string::npos) << r.error;
        EXPECT_EQ(r.error.find("'Order'"), std::string::npos) << r.error;
        EXPECT_EQ(r.error.find("Order,"), std::string::npos) << r.error;
        EXPECT_NE(r.error.find("listed only to a caller with the token"), std::string::npos)
            << r.error;
    }
    EXPECT_NE(resolve_entity(c, {"Invoice", "", "", ""}, false).error.find("'Invoice'"),
              std::string::npos);
}

TEST(BridgeRouting, DerivedEntitiesCannotBeIngested) {
    EntityResolution r = resolve_entity(tpch(), {"OrderLineItem", "", "", ""});
    EXPECT_EQ(r.kind, EntityResolution::NotRoot);
    EXPECT_NE(r.error.find("derived from 'Order'"), std::string::npos) << r.error;
}

TEST(BridgeRouting, NoEntitiesDefined) {
    Catalog c;
    c.loaded = true;
    EntityResolution r = resolve_entity(c, {});
    EXPECT_EQ(r.kind, EntityResolution::Ambiguous);
    EXPECT_NE(r.error.find("no entities are defined"), std::string::npos);
}

TEST(BridgeRouting, Subjects) {
    EXPECT_EQ(subject_for({"messages.ingest.>"}, "Order"), "messages.ingest.Order");
    EXPECT_EQ(subject_for({"orders.*"}, "Order"), "orders.Order");
    EXPECT_EQ(subject_for({">"}, "Order"), "Order");
    // The first pattern with a trailing wildcard token wins.
    EXPECT_EQ(subject_for({"fixed.subject", "a.b.>", "c.>"}, "X"), "a.b.X");
    EXPECT_FALSE(subject_for({"fixed.subject"}, "X"));
    EXPECT_FALSE(subject_for({"odd>"}, "X"));
    EXPECT_FALSE(subject_for({}, "X"));
    Catalog c;
    EXPECT_EQ(subject_for(c.subjects, "Order"), "messages.ingest.Order"); // the fallback
}
