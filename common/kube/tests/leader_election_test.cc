#include "common/kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>

#include "common/kube/errors.h"
#include "common/kube/testing/fake_kube_client.h"
#include "common/kube/tests/test_util.h"

namespace zs::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeKubeClient;

struct Callbacks {
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  EventLog leaders;
};

LeaderElectionConfig Config(const std::string& identity, Callbacks& callbacks) {
  LeaderElectionConfig config;
  config.lease_namespace = "kube-system";
  config.lease_name = "zs";
  config.identity = identity;
  config.lease_duration = seconds(15);
  config.renew_deadline = seconds(10);
  config.retry_period = seconds(2);
  config.on_started_leading = [&callbacks] { ++callbacks.started; };
  config.on_stopped_leading = [&callbacks] { ++callbacks.stopped; };
  config.on_new_leader = [&callbacks](const std::string& id) { callbacks.leaders.Record(id); };
  return config;
}

nlohmann::json LeaseSpec(FakeKubeClient& fake) {
  auto lease = fake.Get(LeaseRef("kube-system", "zs"));
  return lease.ok() ? (*lease)["spec"] : nlohmann::json();
}

// Advances the clock by `d` and waits until the elector(s) made `calls` more
// GETs of the lease, so that each step is observed before the next.
void Step(ManualClock& clock, FakeKubeClient& fake, Duration d, int calls = 1) {
  const int before = fake.Calls("get");
  clock.Advance(d);
  ASSERT_TRUE(Eventually([&] { return fake.Calls("get") >= before + calls; }));
}

TEST(LeaderElectionTest, AcquiresAFreeLeaseByCreatingIt) {
  ManualClock clock;
  FakeKubeClient fake;
  Callbacks callbacks;
  LeaderElector elector(fake, clock, Config("a", callbacks));
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));
  EXPECT_EQ(callbacks.started, 1);
  EXPECT_EQ(elector.Leader(), "a");
  EXPECT_TRUE(callbacks.leaders.Contains("a"));
  nlohmann::json spec = LeaseSpec(fake);
  EXPECT_EQ(spec["holderIdentity"], "a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  // MicroTime: 2006-01-02T15:04:05.000000Z
  EXPECT_EQ(spec["renewTime"].get<std::string>().size(), 27u);
  EXPECT_EQ(spec["acquireTime"], spec["renewTime"]);

  // Renews every retry period.
  const std::string first_renew = spec["renewTime"];
  Step(clock, fake, seconds(2));
  ASSERT_TRUE(Eventually([&] { return LeaseSpec(fake)["renewTime"] != first_renew; }));
  EXPECT_EQ(LeaseSpec(fake)["acquireTime"], first_renew);

  elector.Stop();
  ASSERT_TRUE(Eventually([&] { return callbacks.stopped == 1; }));
  // Released so that a successor need not wait for expiry.
  EXPECT_EQ(LeaseSpec(fake)["holderIdentity"], "");
  EXPECT_EQ(LeaseSpec(fake)["leaseDurationSeconds"], 1);
}

TEST(LeaderElectionTest, OnlyOneOfTwoLeadsAndTheOtherTakesOverOnRelease) {
  ManualClock clock;
  FakeKubeClient fake;
  Callbacks callbacks_a;
  Callbacks callbacks_b;
  LeaderElector a(fake, clock, Config("a", callbacks_a));
  a.Start();
  ASSERT_TRUE(Eventually([&] { return a.IsLeader(); }));
  LeaderElector b(fake, clock, Config("b", callbacks_b));
  b.Start();
  ASSERT_TRUE(Eventually([&] { return b.Leader() == "a"; }));
  // Well past the lease duration: a keeps renewing, so b never takes over.
  for (int i = 0; i < 12; ++i) Step(clock, fake, seconds(2), 2);
  EXPECT_TRUE(a.IsLeader());
  EXPECT_FALSE(b.IsLeader());
  EXPECT_EQ(callbacks_b.started, 0);

  a.Stop();
  ASSERT_TRUE(Eventually([&] { return LeaseSpec(fake)["holderIdentity"] == ""; }));
  Step(clock, fake, seconds(2));
  ASSERT_TRUE(Eventually([&] { return b.IsLeader(); }));
  EXPECT_EQ(LeaseSpec(fake)["holderIdentity"], "b");
  EXPECT_EQ(LeaseSpec(fake)["leaseTransitions"], 1);
  EXPECT_TRUE(callbacks_b.leaders.Contains("a"));
  EXPECT_TRUE(callbacks_b.leaders.Contains("b"));
}

TEST(LeaderElectionTest, TakesOverAnExpiredLeaseMeasuredOnOwnClock) {
  ManualClock clock;
  FakeKubeClient fake;
  // A holder that died long ago; its renewTime is in the far past, which does
  // not matter: expiry counts from when we first saw this record.
  fake.Create(kLeases.In("kube-system"), {{"metadata", {{"name", "zs"}, {"namespace", "kube-system"}}},
                                          {"spec",
                                           {{"holderIdentity", "dead"},
                                            {"leaseDurationSeconds", 15},
                                            {"renewTime", "2000-01-01T00:00:00.000000Z"},
                                            {"leaseTransitions", 3}}}})
      .IgnoreError();
  Callbacks callbacks;
  LeaderElector elector(fake, clock, Config("a", callbacks));
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return elector.Leader() == "dead"; }));
  for (int i = 0; i < 7; ++i) Step(clock, fake, seconds(2));  // 14 s
  EXPECT_FALSE(elector.IsLeader());
  Step(clock, fake, seconds(2));  // 16 s
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));
  EXPECT_EQ(LeaseSpec(fake)["holderIdentity"], "a");
  EXPECT_EQ(LeaseSpec(fake)["leaseTransitions"], 4);
}

TEST(LeaderElectionTest, StepsDownWhenRenewalsFailForRenewDeadline) {
  ManualClock clock;
  FakeKubeClient fake;
  Callbacks callbacks;
  LeaderElector elector(fake, clock, Config("a", callbacks));
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));
  fake.FailNext("update", TransportError("apiserver down"), 1000);
  for (int i = 0; i < 4; ++i) Step(clock, fake, seconds(2));  // 8 s of failures
  EXPECT_TRUE(elector.IsLeader());
  EXPECT_EQ(callbacks.stopped, 0);
  Step(clock, fake, seconds(2));  // 10 s: renew deadline
  ASSERT_TRUE(Eventually([&] { return callbacks.stopped == 1; }));
  EXPECT_FALSE(elector.IsLeader());
  elector.Stop();
}

TEST(LeaderElectionTest, LosingAConflictMeansNotLeading) {
  ManualClock clock;
  FakeKubeClient fake;
  Callbacks callbacks;
  fake.FailNext("create", StatusFromHttp(409, R"({"kind":"Status","code":409,"reason":"AlreadyExists"})"));
  LeaderElector elector(fake, clock, Config("a", callbacks));
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return fake.Calls("create") == 1; }));
  EXPECT_FALSE(elector.IsLeader());
  Step(clock, fake, seconds(2));
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));
}

}  // namespace
}  // namespace zs::kube
