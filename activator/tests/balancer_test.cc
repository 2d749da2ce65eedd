#include "activator/admission/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

namespace zs::activator {
namespace {

EndpointSet MakeSet(int n) {
  EndpointSet set;
  set.version = 1;
  for (int i = 0; i < n; ++i) {
    set.endpoints.push_back(
        std::make_shared<EndpointSlot>(Endpoint{"10.0.0." + std::to_string(i + 1), 80, ""}));
  }
  return set;
}

TEST(PickEndpoint, EmptySetPicksNothing) { EXPECT_EQ(PickEndpoint(EndpointSet{}, 0), nullptr); }

TEST(PickEndpoint, SmallSetsTakeTheLeastLoaded) {
  SeedBalancer(7);
  auto set = MakeSet(3);
  for (int i = 0; i < 5; ++i) set.endpoints[0]->TryAcquire(0);
  for (int i = 0; i < 2; ++i) set.endpoints[1]->TryAcquire(0);
  for (int i = 0; i < 3; ++i) set.endpoints[2]->TryAcquire(0);
  auto picked = PickEndpoint(set, 0);
  ASSERT_EQ(picked, set.endpoints[1]);
  EXPECT_EQ(picked->in_flight(), 3);
}

TEST(PickEndpoint, NeverExceedsMaxConcurrency) {
  SeedBalancer(11);
  auto set = MakeSet(8);
  std::vector<std::shared_ptr<EndpointSlot>> claims;
  while (auto slot = PickEndpoint(set, 3)) claims.push_back(slot);
  EXPECT_EQ(claims.size(), 24u);  // every replica filled to the cap, none beyond
  for (const auto& slot : set.endpoints) EXPECT_EQ(slot->in_flight(), 3);
  claims.back()->Release();
  auto again = PickEndpoint(set, 3);
  EXPECT_EQ(again, claims.back());
}

TEST(PickEndpoint, ConcurrentPickersNeverExceedTheCap) {
  auto set = MakeSet(4);
  std::atomic<int> claimed{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (PickEndpoint(set, 5)) claimed.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.load(), 20);
  for (const auto& slot : set.endpoints) EXPECT_EQ(slot->in_flight(), 5);
}

TEST(PickEndpoint, SpreadsLoadEvenly) {
  SeedBalancer(3);
  auto set = MakeSet(10);
  for (int i = 0; i < 1000; ++i) ASSERT_NE(PickEndpoint(set, 0), nullptr);
  int lo = 1 << 30;
  int hi = 0;
  for (const auto& slot : set.endpoints) {
    lo = std::min(lo, slot->in_flight());
    hi = std::max(hi, slot->in_flight());
  }
  // Two choices keep the spread within a few requests of the mean (100).
  EXPECT_LE(hi - lo, 4);
}

TEST(PickEndpoint, AvoidsNamedAddresses) {
  SeedBalancer(5);
  auto set = MakeSet(2);
  const std::vector<std::string> avoid = {set.endpoints[0]->address()};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(PickEndpoint(set, 0, &avoid), set.endpoints[1]);
  const std::vector<std::string> all = {set.endpoints[0]->address(), set.endpoints[1]->address()};
  EXPECT_EQ(PickEndpoint(set, 0, &all), nullptr);
}

}  // namespace
}  // namespace zs::activator
