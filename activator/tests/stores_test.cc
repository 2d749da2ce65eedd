#include <gtest/gtest.h>

#include "activator/admission/catalog.h"
#include "activator/admission/endpoints.h"

namespace zs::activator {
namespace {

TEST(InMemoryCatalog, UpsertReplacesAndReadersKeepTheirCopy) {
  InMemoryCatalog catalog;
  FunctionConfig config;
  config.key = {"ns", "f"};
  config.max_concurrency = 1;
  catalog.Upsert(config);
  auto held = catalog.Lookup("ns", "f");
  ASSERT_NE(held, nullptr);
  config.max_concurrency = 5;
  catalog.Upsert(config);
  EXPECT_EQ(held->max_concurrency, 1);
  EXPECT_EQ(catalog.Lookup("ns", "f")->max_concurrency, 5);
  EXPECT_EQ(catalog.size(), 1u);
  EXPECT_EQ(catalog.List().size(), 1u);
  EXPECT_TRUE(catalog.Remove({"ns", "f"}));
  EXPECT_FALSE(catalog.Remove({"ns", "f"}));
  EXPECT_EQ(catalog.Lookup("ns", "f"), nullptr);
  EXPECT_EQ(held->key.String(), "ns/f");
}

TEST(InMemoryCatalog, LongestTimeoutBoundsTheDrain) {
  InMemoryCatalog catalog;
  EXPECT_EQ(catalog.LongestTimeout(), std::chrono::milliseconds(0));
  FunctionConfig a;
  a.key = {"ns", "a"};
  a.timeout = std::chrono::seconds(30);
  FunctionConfig b;
  b.key = {"ns", "b"};
  b.timeout = std::chrono::seconds(900);
  catalog.Upsert(a);
  catalog.Upsert(b);
  EXPECT_EQ(catalog.LongestTimeout(), std::chrono::seconds(900));
  catalog.Remove(b.key);
  EXPECT_EQ(catalog.LongestTimeout(), std::chrono::seconds(30));
}

TEST(FunctionConfigFromApi, ReadsTheActivatorsSlice) {
  api::Function fn;
  fn.metadata.namespace_ = "team";
  fn.metadata.name = "judge";
  fn.spec.port = 9000;
  fn.spec.timeout_seconds = 5;
  fn.spec.scaling.max_concurrency = 3;
  fn.spec.buffer.max_requests = 7;
  fn.spec.buffer.timeout_seconds = 9;
  fn.spec.resources.requests.memory = "256Mi";
  fn.spec.triggers.resize(2);
  fn.spec.triggers[0].name = "nightly";
  fn.spec.triggers[1].name = "orders";
  const FunctionConfig c = FunctionConfigFromApi(fn);
  EXPECT_EQ(c.triggers, (std::vector<std::string>{"nightly", "orders"}));
  EXPECT_EQ(c.key, (FunctionKey{"team", "judge"}));
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.max_concurrency, 3);
  EXPECT_EQ(c.buffer_max_requests, 7);
  EXPECT_EQ(c.buffer_timeout, std::chrono::seconds(9));
  ASSERT_TRUE(c.memory_request_bytes.has_value());
  EXPECT_DOUBLE_EQ(*c.memory_request_bytes, 256.0 * 1024 * 1024);
  fn.spec.resources.requests.memory.reset();
  EXPECT_FALSE(FunctionConfigFromApi(fn).memory_request_bytes.has_value());
}

TEST(ParseEndpoint, Forms) {
  Endpoint e;
  ASSERT_TRUE(ParseEndpoint("10.0.0.1:8080", &e));
  EXPECT_EQ(e.ip, "10.0.0.1");
  EXPECT_EQ(e.port, 8080);
  EXPECT_EQ(e.Address(), "10.0.0.1:8080");
  ASSERT_TRUE(ParseEndpoint("[fd00::1]:80", &e));
  EXPECT_EQ(e.ip, "fd00::1");
  EXPECT_EQ(e.Address(), "[fd00::1]:80");
  EXPECT_FALSE(ParseEndpoint("10.0.0.1", &e));
  EXPECT_FALSE(ParseEndpoint("10.0.0.1:0", &e));
  EXPECT_FALSE(ParseEndpoint("10.0.0.1:99999", &e));
  EXPECT_FALSE(ParseEndpoint("fd00::1:80", &e));
  EXPECT_FALSE(ParseEndpoint(":80", &e));
}

TEST(InMemoryEndpointStore, SnapshotsAreImmutableAndSlotsCarryOver) {
  InMemoryEndpointStore store;
  const FunctionKey key{"ns", "f"};
  EXPECT_TRUE(store.Ready(key)->empty());
  std::vector<std::pair<FunctionKey, size_t>> seen;
  store.Subscribe(
      [&](const FunctionKey& k, const EndpointSet& set) { seen.emplace_back(k, set.endpoints.size()); });

  store.Update(key, {{"10.0.0.1", 80, "p1"}, {"10.0.0.2", 80, "p2"}, {"10.0.0.1", 80, "p1"}});
  auto first = store.Ready(key);
  ASSERT_EQ(first->endpoints.size(), 2u);  // duplicate dropped
  ASSERT_TRUE(first->endpoints[0]->TryAcquire(0));

  store.Update(key, {{"10.0.0.1", 80, "p1"}, {"10.0.0.3", 80, "p3"}});
  auto second = store.Ready(key);
  EXPECT_GT(second->version, first->version);
  EXPECT_EQ(first->endpoints.size(), 2u);  // the old snapshot did not change
  ASSERT_EQ(second->endpoints.size(), 2u);
  // Same address and pod: same slot, so the in-flight request is still counted.
  EXPECT_EQ(second->endpoints[0], first->endpoints[0]);
  EXPECT_EQ(second->endpoints[0]->in_flight(), 1);
  EXPECT_EQ(second->endpoints[1]->in_flight(), 0);

  // A new pod behind a recycled IP starts from zero.
  store.Update(key, {{"10.0.0.1", 80, "p9"}});
  EXPECT_EQ(store.Ready(key)->endpoints[0]->in_flight(), 0);

  store.Remove(key);
  EXPECT_TRUE(store.Ready(key)->empty());
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen.back().second, 0u);
}

TEST(EndpointSlot, TryAcquireHonoursTheCap) {
  EndpointSlot slot({"10.0.0.1", 80, ""});
  EXPECT_TRUE(slot.TryAcquire(2));
  EXPECT_TRUE(slot.TryAcquire(2));
  EXPECT_FALSE(slot.TryAcquire(2));
  EXPECT_TRUE(slot.TryAcquire(0));  // 0 = no cap
  EXPECT_EQ(slot.in_flight(), 3);
  slot.Release();
  slot.Release();
  EXPECT_TRUE(slot.TryAcquire(2));
}

}  // namespace
}  // namespace zs::activator
