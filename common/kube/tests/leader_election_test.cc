#include "common/kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

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
  config.on_started_leading = [&callbacks](const std::stop_token&) { ++callbacks.started; };
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
  LeaderElectionConfig config = Config("a", callbacks);
  std::string holder_when_stopped;
  config.on_stopped_leading = [&] {
    holder_when_stopped = LeaseSpec(fake)["holderIdentity"];
    ++callbacks.stopped;
  };
  LeaderElector elector(fake, clock, config);
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));
  // Its own thread: it runs once, soon after.
  ASSERT_TRUE(Eventually([&] { return callbacks.started == 1; }));
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
  elector.Join();
  EXPECT_EQ(callbacks.stopped, 1);
  // The process stopped acting while it still held the lease...
  EXPECT_EQ(holder_when_stopped, "a");
  // ...and then released it so that a successor need not wait for expiry.
  EXPECT_EQ(LeaseSpec(fake)["holderIdentity"], "");
  EXPECT_EQ(LeaseSpec(fake)["leaseDurationSeconds"], 1);
  EXPECT_FALSE(elector.IsLeader());
}

TEST(LeaderElectionTest, OnlyOneOfTwoLeadsAndTheOtherTakesOverOnRelease) {
  ManualClock clock;
  FakeKubeClient fake;
  // No watch (as without the RBAC verb): the periodic attempts alone hand over.
  fake.FailNext("watch", StatusFromHttp(403, R"({"kind":"Status","code":403,"reason":"Forbidden"})"), 1000);
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

TEST(LeaderElectionTest, AStandbyTakesAReleasedLeaseWithoutWaitingForItsRetry) {
  ManualClock clock;
  FakeKubeClient fake;
  Callbacks callbacks_a;
  Callbacks callbacks_b;
  LeaderElector a(fake, clock, Config("a", callbacks_a));
  a.Start();
  ASSERT_TRUE(Eventually([&] { return a.IsLeader(); }));
  LeaderElector b(fake, clock, Config("b", callbacks_b));
  b.Start();
  ASSERT_TRUE(Eventually([&] { return b.Leader() == "a" && fake.OpenWatches() == 2; }));
  a.Stop();
  a.Join();
  // The clock stands still: b's next retry is 2 s away, the watch wakes it.
  ASSERT_TRUE(Eventually([&] { return b.IsLeader(); }));
  EXPECT_EQ(LeaseSpec(fake)["holderIdentity"], "b");
  EXPECT_EQ(LeaseSpec(fake)["leaseTransitions"], 1);
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

// An apiserver that stops answering: calls pass to `target` until Stall();
// then each blocks until the ManualClock passes its timeout (WithTimeout, as
// curl's would) and fails, or, without one or with honour_timeouts false,
// until Resume(). Records the timeout every view was made with.
class StallingKubeClient : public ForwardingKubeClient {
 public:
  StallingKubeClient(KubeClient& target, ManualClock& clock) : ForwardingKubeClient(target), clock_(clock) {}

  void Stall(bool honour_timeouts = true) {
    std::lock_guard lock(mu_);
    stalled_ = true;
    honour_timeouts_ = honour_timeouts;
  }
  void Resume() {
    std::lock_guard lock(mu_);
    stalled_ = false;
  }
  int blocked() const {
    std::lock_guard lock(mu_);
    return blocked_;
  }
  std::vector<Duration> timeouts() const {
    std::lock_guard lock(mu_);
    return timeouts_;
  }

  absl::StatusOr<nlohmann::json> Get(const ResourceRef& ref) override {
    return Call(std::nullopt, [&] { return target().Get(ref); });
  }
  absl::StatusOr<nlohmann::json> Create(const ResourceRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) override {
    return Call(std::nullopt, [&] { return target().Create(ref, object, options); });
  }
  absl::StatusOr<nlohmann::json> Update(const ResourceRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) override {
    return Call(std::nullopt, [&] { return target().Update(ref, object, options); });
  }
  std::unique_ptr<KubeClient> WithTimeout(Duration timeout) override {
    {
      std::lock_guard lock(mu_);
      timeouts_.push_back(timeout);
    }
    return std::make_unique<Bounded>(*this, timeout);
  }

 private:
  class Bounded : public ForwardingKubeClient {
   public:
    Bounded(StallingKubeClient& parent, Duration timeout)
        : ForwardingKubeClient(parent.target()), parent_(parent), timeout_(timeout) {}
    absl::StatusOr<nlohmann::json> Get(const ResourceRef& ref) override {
      return parent_.Call(timeout_, [&] { return target().Get(ref); });
    }
    absl::StatusOr<nlohmann::json> Create(const ResourceRef& ref, const nlohmann::json& object,
                                          const WriteOptions& options = {}) override {
      return parent_.Call(timeout_, [&] { return target().Create(ref, object, options); });
    }
    absl::StatusOr<nlohmann::json> Update(const ResourceRef& ref, const nlohmann::json& object,
                                          const WriteOptions& options = {}) override {
      return parent_.Call(timeout_, [&] { return target().Update(ref, object, options); });
    }

   private:
    StallingKubeClient& parent_;
    const Duration timeout_;
  };

  template <typename Fn>
  absl::StatusOr<nlohmann::json> Call(std::optional<Duration> timeout, Fn fn) {
    std::unique_lock lock(mu_);
    if (stalled_) {
      const MonotonicTime start = clock_.Now();
      ++blocked_;
      auto timed_out = [&] { return honour_timeouts_ && timeout && clock_.Now() >= start + *timeout; };
      // The ManualClock does not signal us: look at it every millisecond.
      while (stalled_ && !timed_out()) cv_.wait_for(lock, milliseconds(1));
      --blocked_;
      if (stalled_) return TransportError("operation timed out");
    }
    lock.unlock();
    return fn();
  }

  ManualClock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stalled_ = false;
  bool honour_timeouts_ = true;
  int blocked_ = 0;
  std::vector<Duration> timeouts_;
};

// Ends the elector and lets its stalled calls return, so that a failing
// assertion does not leave the test blocked in the elector's destructor.
struct StopAndResume {
  LeaderElector& elector;
  StallingKubeClient& stalling;
  ~StopAndResume() {
    elector.Stop();
    stalling.Resume();
  }
};

// Lease 15 s, renew deadline 10 s, retry 2 s (Config()).
TEST(LeaderElectionTest, ValidatesTheOrderOfTheDurations) {
  Callbacks callbacks;
  LeaderElectionConfig config = Config("a", callbacks);
  EXPECT_TRUE(ValidateLeaderElectionConfig(config).ok());
  struct Case {
    Duration lease, renew, retry;
  };
  for (const Case& c : {Case{seconds(10), seconds(10), seconds(2)}, Case{seconds(9), seconds(10), seconds(2)},
                        Case{seconds(15), seconds(2), seconds(2)}, Case{seconds(15), seconds(10), seconds(0)},
                        Case{milliseconds(900), milliseconds(500), milliseconds(100)}}) {
    config.lease_duration = c.lease;
    config.renew_deadline = c.renew;
    config.retry_period = c.retry;
    EXPECT_FALSE(ValidateLeaderElectionConfig(config).ok())
        << ToSeconds(c.lease) << " " << ToSeconds(c.renew) << " " << ToSeconds(c.retry);
  }
  config = Config("", callbacks);
  EXPECT_FALSE(ValidateLeaderElectionConfig(config).ok());
}

TEST(LeaderElectionTest, StartedLeadingRunsOffTheElectorThreadAndStopsWithLeadership) {
  ManualClock clock;
  FakeKubeClient fake;
  Callbacks callbacks;
  LeaderElectionConfig config = Config("a", callbacks);
  std::atomic<bool> work_returned{false};
  bool work_returned_before_stopped = false;
  // Blocks like a cache sync that never ends, until leadership ends.
  config.on_started_leading = [&](const std::stop_token& stop) {
    ++callbacks.started;
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait(lock, stop, [] { return false; });
    work_returned = true;
  };
  config.on_stopped_leading = [&] {
    work_returned_before_stopped = work_returned;
    ++callbacks.stopped;
  };
  LeaderElector elector(fake, clock, config);
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return callbacks.started == 1; }));
  // Renewals go on while the work blocks, well past the renew deadline.
  for (int i = 0; i < 8; ++i) {
    const std::string before = LeaseSpec(fake)["renewTime"];
    Step(clock, fake, seconds(2));
    ASSERT_TRUE(Eventually([&] { return LeaseSpec(fake)["renewTime"] != before; })) << i;
  }
  EXPECT_TRUE(elector.IsLeader());
  EXPECT_FALSE(work_returned);
  elector.Stop();
  elector.Join();
  EXPECT_TRUE(work_returned_before_stopped);
  EXPECT_EQ(callbacks.stopped, 1);
  EXPECT_EQ(LeaseSpec(fake)["holderIdentity"], "");
}

TEST(LeaderElectionTest, EveryRenewCallIsBoundedByTheTimeLeftToTheDeadline) {
  ManualClock clock;
  FakeKubeClient fake;
  StallingKubeClient stalling(fake, clock);
  Callbacks callbacks;
  LeaderElector elector(stalling, clock, Config("a", callbacks));
  StopAndResume guard{elector, stalling};
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));  // t=0, deadline 10 s
  Step(clock, fake, seconds(2));                                // renewed at t=2: deadline 12 s
  ASSERT_TRUE(Eventually([&] { return LeaseSpec(fake)["renewTime"] != LeaseSpec(fake)["acquireTime"]; }));
  const int updates = fake.Calls("update");
  const size_t calls = stalling.timeouts().size();

  stalling.Stall();
  clock.Advance(seconds(2));  // t=4: the attempt blocks
  ASSERT_TRUE(Eventually([&] { return stalling.blocked() == 1; }));
  ASSERT_EQ(stalling.timeouts().size(), calls + 1);
  EXPECT_EQ(stalling.timeouts().back(), seconds(8));  // the time left to t=12
  clock.Advance(seconds(7));                          // t=11: still within
  EXPECT_TRUE(elector.IsLeader());
  EXPECT_EQ(callbacks.stopped, 0);
  clock.Advance(seconds(1));  // t=12: the deadline; the call times out
  EXPECT_FALSE(elector.IsLeader());
  ASSERT_TRUE(Eventually([&] { return callbacks.stopped == 1; }));
  EXPECT_EQ(fake.Calls("update"), updates);  // nothing written while stalled
  // Every bound handed out was within what was left of a deadline.
  for (Duration timeout : stalling.timeouts()) EXPECT_LE(timeout, seconds(10));
  elector.Stop();
  stalling.Resume();
  elector.Join();
  EXPECT_EQ(LeaseSpec(fake)["holderIdentity"], "a");  // no release after losing it
}

TEST(LeaderElectionTest, IsLeaderEndsAtTheDeadlineEvenWhenTheElectorIsStuck) {
  ManualClock clock;
  FakeKubeClient fake;
  StallingKubeClient stalling(fake, clock);
  Callbacks callbacks;
  LeaderElector elector(stalling, clock, Config("a", callbacks));
  StopAndResume guard{elector, stalling};
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));  // deadline 10 s
  stalling.Stall(/*honour_timeouts=*/false);
  clock.Advance(seconds(2));
  ASSERT_TRUE(Eventually([&] { return stalling.blocked() == 1; }));
  clock.Advance(seconds(7));
  EXPECT_TRUE(elector.IsLeader());
  clock.Advance(seconds(1));
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(callbacks.stopped, 0);  // its thread is stuck in the call
  stalling.Resume();
  // The late answer does not count: the attempt ended past the deadline, so
  // that term is over (a candidate again, it may then win a new one).
  ASSERT_TRUE(Eventually([&] { return callbacks.stopped == 1; }));
  elector.Stop();
}

TEST(LeaderElectionTest, AStalledLeaderStopsBeforeTheStandbyStarts) {
  ManualClock clock;
  const MonotonicTime t0 = clock.Now();
  FakeKubeClient fake;
  StallingKubeClient stalling(fake, clock);
  Callbacks callbacks_a;
  Callbacks callbacks_b;
  std::mutex mu;
  std::optional<Duration> a_stopped_at;
  std::optional<Duration> b_started_at;
  bool a_leading_when_b_started = true;
  LeaderElectionConfig config_a = Config("a", callbacks_a);
  config_a.on_stopped_leading = [&] {
    std::lock_guard lock(mu);
    a_stopped_at = clock.Now() - t0;
  };
  LeaderElector a(stalling, clock, config_a);
  StopAndResume guard{a, stalling};
  LeaderElectionConfig config_b = Config("b", callbacks_b);
  LeaderElector* a_ptr = &a;
  config_b.on_started_leading = [&](const std::stop_token&) {
    std::lock_guard lock(mu);
    b_started_at = clock.Now() - t0;
    a_leading_when_b_started = a_ptr->IsLeader();
  };
  LeaderElector b(fake, clock, config_b);
  a.Start();
  ASSERT_TRUE(Eventually([&] { return a.IsLeader(); }));
  b.Start();
  ASSERT_TRUE(Eventually([&] { return b.Leader() == "a"; }));
  stalling.Stall();
  // Every 2 s b looks at the lease (a's calls no longer reach the fake).
  for (int i = 0; i < 15 && !b.IsLeader(); ++i) {
    Step(clock, fake, seconds(2));
    // The deadline is a's last successful renewal plus 10 s: wait for a to
    // act on it before time moves on, as a real clock would let it.
    if (clock.Now() - t0 >= seconds(10)) {
      ASSERT_TRUE(Eventually([&] {
        std::lock_guard lock(mu);
        return a_stopped_at.has_value();
      }));
    }
  }
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return b_started_at.has_value();
  }));
  std::lock_guard lock(mu);
  ASSERT_TRUE(a_stopped_at.has_value());
  ASSERT_TRUE(b_started_at.has_value());
  EXPECT_LE(*a_stopped_at, seconds(10));
  EXPECT_GE(*b_started_at, seconds(15));
  EXPECT_FALSE(a_leading_when_b_started);
}

TEST(LeaderElectionTest, StepsDownAtOnceWhenTheLeaseIsSeenHeldByAnother) {
  ManualClock clock;
  FakeKubeClient fake;
  Callbacks callbacks;
  LeaderElector elector(fake, clock, Config("a", callbacks));
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));
  auto lease = fake.Get(LeaseRef("kube-system", "zs"));
  ASSERT_TRUE(lease.ok());
  (*lease)["spec"]["holderIdentity"] = "intruder";
  ASSERT_TRUE(fake.Update(LeaseRef("kube-system", "zs"), *lease).ok());
  Step(clock, fake, seconds(2));
  ASSERT_TRUE(Eventually([&] { return callbacks.stopped == 1; }));
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(elector.Leader(), "intruder");
  elector.Stop();
  elector.Join();
  EXPECT_EQ(LeaseSpec(fake)["holderIdentity"], "intruder");
}

}  // namespace
}  // namespace zs::kube
