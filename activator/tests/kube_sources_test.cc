#include "activator/kube_sources.h"

#include <gtest/gtest.h>

#include "common/kube/resource.h"
#include "common/kube/testing/fake_kube_client.h"

namespace zs::activator {
namespace {

using nlohmann::json;

json Slice(const std::string& name, const std::string& function, json endpoints) {
  return {{"metadata",
           {{"name", name}, {"namespace", "demo"}, {"labels", {{"zeroscale.dev/function", function}}}}},
          {"addressType", "IPv4"},
          {"ports", json::array({{{"name", "http"}, {"port", 8080}}})},
          {"endpoints", std::move(endpoints)}};
}

TEST(ReadyEndpoints, OnlyReadyAndNotTerminating) {
  json endpoints = json::parse(R"([
    {"addresses": ["10.88.1.2"], "conditions": {"ready": true}, "targetRef": {"name": "pod-a"}},
    {"addresses": ["10.88.1.3"], "conditions": {"ready": false}},
    {"addresses": ["10.88.1.4"], "conditions": {}},
    {"addresses": ["10.88.1.5"], "conditions": {"ready": true, "terminating": true}}
  ])");
  auto ready = ReadyEndpoints({Slice("s1", "hello", endpoints)}, 9999);
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].Address(), "10.88.1.2:8080");
  EXPECT_EQ(ready[0].pod, "pod-a");
  EXPECT_EQ(ready[1].Address(), "10.88.1.4:8080");
}

TEST(ReadyEndpoints, DefaultPortWithoutNamedPort) {
  json slice = Slice("s1", "hello", json::parse(R"([{"addresses": ["10.88.1.2"]}])"));
  slice.erase("ports");
  auto ready = ReadyEndpoints({slice}, 9000);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].port, 9000);
}

TEST(LeaderAddress, FromHolderIdentity) {
  EXPECT_EQ(AddressFromHolderIdentity("ctrl-0_12@10.88.1.5:9090"), "10.88.1.5:9090");
  EXPECT_FALSE(AddressFromHolderIdentity("no-address").has_value());
  EXPECT_FALSE(AddressFromHolderIdentity("trailing@").has_value());
}

TEST(LeaderLookup, ReadsTheLease) {
  kube::testing::FakeKubeClient fake;
  LeaderLookup lookup(fake, "zeroscale-system", "zeroscale-controller");
  EXPECT_FALSE(lookup.Resolve().ok());
  fake.Seed(kube::kLeases.In("zeroscale-system"),
            {{"metadata", {{"name", "zeroscale-controller"}, {"namespace", "zeroscale-system"}}},
             {"spec", {{"holderIdentity", "a_1@127.0.0.1:9090"}}}});
  auto address = lookup.Resolve();
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1:9090");
}

// The informers feed catalog and store; only Functions' own slices count.
TEST(KubeSources, FeedsCatalogAndEndpoints) {
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  InMemoryCatalog catalog;
  InMemoryEndpointStore store;
  fake.Seed(kube::kFunctions.In("demo"), {{"apiVersion", "zeroscale.dev/v1alpha1"},
                                          {"kind", "Function"},
                                          {"metadata", {{"name", "hello"}, {"namespace", "demo"}}},
                                          {"spec", {{"image", "x"}, {"port", 8080}}}});
  fake.Seed(kube::kEndpointSlices.In("demo"),
            Slice("hello-abc", "hello",
                  json::parse(R"([{"addresses": ["10.88.1.7"], "conditions": {"ready": true}}])")));
  KubeSources sources(fake, clock, catalog, store, {});
  sources.Start();
  ASSERT_TRUE(sources.WaitForSync(std::chrono::seconds(10)));
  ASSERT_NE(catalog.Lookup("demo", "hello"), nullptr);
  auto ready = store.Ready({"demo", "hello"});
  ASSERT_EQ(ready->endpoints.size(), 1u);
  EXPECT_EQ(ready->endpoints[0]->address(), "10.88.1.7:8080");
  sources.Stop();
}

}  // namespace
}  // namespace zs::activator
