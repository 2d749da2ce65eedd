#include "controller/autoscaler/decide.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace zs::autoscaler {
namespace {

// A fixed, whole-second origin so bucket arithmetic is easy to follow.
const MonotonicTime kT0 = MonotonicTime{} + std::chrono::hours(1000);

// `seconds` points of `concurrency` ending at now's bucket.
std::vector<ConcurrencyPoint> Constant(MonotonicTime now, int seconds, double concurrency) {
  std::vector<ConcurrencyPoint> points;
  for (int i = seconds - 1; i >= 0; --i)
    points.push_back({BucketOf(now) - std::chrono::seconds(i), concurrency});
  return points;
}

api::ScalingSpec Spec(int min, int max, int target, int idle_seconds = 60) {
  api::ScalingSpec spec;
  spec.min_replicas = min;
  spec.max_replicas = max;
  spec.target_concurrency = target;
  spec.scale_to_zero_after_seconds = idle_seconds;
  return spec;
}

Samples Load(MonotonicTime now, double concurrency, int32_t ready, int32_t current) {
  Samples s;
  s.concurrency = Constant(now, 60, concurrency);
  s.last_request_time = now;
  s.live_activators = 1;
  s.ready_replicas = ready;
  s.current_desired = current;
  return s;
}

TEST(WindowAverage, FullWindowCountsMissingSecondsAsZero) {
  const MonotonicTime now = kT0 + 100s;
  EXPECT_NEAR(WindowAverage(Constant(now, 60, 4.0), now, 60s), 4.0, 1e-9);
  // Data since 60 s ago, but load only in the last 30 s.
  std::vector<ConcurrencyPoint> half = Constant(now, 30, 6.0);
  half.insert(half.begin(), {BucketOf(now) - 59s, 0.0});
  EXPECT_NEAR(WindowAverage(half, now, 60s), 3.0, 1e-9);
  // A point older than the window only says the span is full.
  std::vector<ConcurrencyPoint> old_and_new = Constant(now, 6, 10.0);
  old_and_new.insert(old_and_new.begin(), {BucketOf(now) - 120s, 50.0});
  EXPECT_NEAR(WindowAverage(old_and_new, now, 60s), 1.0, 1e-9);
}

TEST(WindowAverage, YoungDataIsNotDilutedByTheWholeWindow) {
  const MonotonicTime now = kT0 + 100s;
  // Five seconds of 20 after a long silence: the average is 20, not 20*5/60.
  EXPECT_NEAR(WindowAverage(Constant(now, 5, 20.0), now, 60s), 20.0, 1e-9);
}

TEST(WindowAverage, UnreportedCurrentSecondIsNotAZero) {
  const MonotonicTime now = kT0 + 100s + 500ms;
  // Points up to the previous second only.
  std::vector<ConcurrencyPoint> points = Constant(now - 1s, 60, 8.0);
  EXPECT_NEAR(WindowAverage(points, now, 6s), 8.0, 1e-9);
  EXPECT_NEAR(WindowAverage({}, now, 6s), 0.0, 1e-9);
}

struct StableCase {
  std::string name;
  double concurrency;
  int target;
  int32_t ready;
  int32_t current;
  int32_t want;
};

TEST(Decide, StableDesiredIsCeilOfAverageOverTarget) {
  const MonotonicTime now = kT0 + 1000s;
  const std::vector<StableCase> cases = {
      {"exact", 30, 10, 3, 3, 3},
      {"rounds up", 31, 10, 3, 3, 4},
      {"tiny load keeps one", 0.01, 10, 1, 1, 1},
      {"target one", 5, 1, 5, 5, 5},
      {"grows without panic", 39, 10, 3, 3, 4},
      {"halves at most", 1, 10, 8, 8, 4},
  };
  for (const auto& c : cases) {
    Decision d = Decide(Load(now, c.concurrency, c.ready, c.current), Spec(0, 100, c.target), {}, now);
    EXPECT_EQ(d.desired, c.want) << c.name;
    EXPECT_FALSE(d.panicking) << c.name;
  }
}

TEST(Decide, BurstFromZeroWakesSizedByQueue) {
  const MonotonicTime now = kT0 + 1000s;
  struct Case {
    int64_t queued;
    int max;
    int32_t want;
  };
  for (const Case c :
       {Case{1, 10, 1}, Case{10, 10, 1}, Case{11, 10, 2}, Case{100, 50, 10}, Case{1000, 50, 50}}) {
    Samples s;
    s.live_activators = 1;
    s.queued = c.queued;
    s.last_request_time = now;
    Decision d = Decide(s, Spec(0, c.max, 10), {}, now);
    EXPECT_EQ(d.desired, c.want) << "queued " << c.queued;
    EXPECT_EQ(d.reason, c.want == c.max && c.queued > 100 ? "max-replicas" : "wake");
  }
}

// A broker backlog is demand before any request reaches an activator: it
// wakes a Function at zero, sizes it (bounded by maxInFlight in
// TriggerBacklog, by maxReplicas here) and keeps it from scaling to zero.
TEST(Decide, BrokerBacklogWakesScalesAndHolds) {
  const MonotonicTime now = kT0 + 1000s;
  Samples s;
  s.live_activators = 1;
  s.backlog = 1;
  Decision d = Decide(s, Spec(0, 10, 10), {}, now);
  EXPECT_EQ(d.desired, 1);
  EXPECT_EQ(d.reason, "wake");

  s.backlog = 1000;
  EXPECT_EQ(Decide(s, Spec(0, 10, 1), {}, now).desired, 10) << "up to maxReplicas";

  // Running, idle for longer than scaleToZeroAfterSeconds, backlog left.
  Samples idle = Load(now, 0, 2, 2);
  idle.last_request_time = now - 600s;
  idle.backlog = 20;
  d = Decide(idle, Spec(0, 10, 10), {}, now);
  EXPECT_EQ(d.desired, 2);
  idle.backlog = 0;
  EXPECT_LT(Decide(idle, Spec(0, 10, 10), {}, now).desired, 2);
}

TEST(TriggerBacklog, PendingBoundedByMaxInFlightPerBrokerTrigger) {
  api::Function fn;
  api::TriggerSpec orders;
  orders.name = "orders";
  orders.redis = api::RedisSource{};
  orders.delivery.max_in_flight = 50;
  api::TriggerSpec jobs = orders;
  jobs.name = "jobs";
  jobs.delivery.max_in_flight = 5;
  api::TriggerSpec nightly;
  nightly.name = "nightly";
  nightly.schedule = api::ScheduleSource{};
  fn.spec.triggers = {orders, jobs, nightly};
  EXPECT_EQ(TriggerBacklog(fn), 0) << "nothing reported";
  fn.trigger_statuses.resize(3);
  fn.trigger_statuses[0].name = "orders";
  fn.trigger_statuses[0].pending = 1000;
  fn.trigger_statuses[1].name = "jobs";
  fn.trigger_statuses[1].pending = 3;
  fn.trigger_statuses[2].name = "nightly";
  fn.trigger_statuses[2].pending = 99;  // not a broker: ignored
  EXPECT_EQ(TriggerBacklog(fn), 50 + 3);
}

TEST(Decide, AtZeroWithoutDemandStaysZeroEvenForANewLeader) {
  const MonotonicTime now = kT0;
  Samples s;
  s.live_activators = 2;
  // No request ever known, fresh state (a controller that just became leader).
  Decision d = Decide(s, Spec(0, 10, 10), DecisionState{}, now);
  EXPECT_EQ(d.desired, 0);
  EXPECT_EQ(d.reason, "idle");
  // A request long ago does not wake it either.
  s.last_request_time = now - 3600s;
  EXPECT_EQ(Decide(s, Spec(0, 10, 10), d.state, now + 1s).desired, 0);
}

TEST(Decide, AtZeroAnyRecentRequestOrInFlightWakes) {
  const MonotonicTime now = kT0 + 500s;
  Samples s;
  s.live_activators = 1;
  s.last_request_time = now - 2s;
  EXPECT_EQ(Decide(s, Spec(0, 10, 10), {}, now).desired, 1);
  s.last_request_time.reset();
  s.in_flight = 1;
  EXPECT_EQ(Decide(s, Spec(0, 10, 10), {}, now).desired, 1);
}

TEST(Decide, PanicEntersAtTwiceTheReadyReplicasAndScalesOnThePanicWindow) {
  const MonotonicTime now = kT0 + 1000s;
  Samples s = Load(now, 10, 2, 2);  // stable: 10 / 10 = 1 replica
  // The last 6 seconds jump to 40 concurrent: panic asks for 4 = 2 x ready.
  for (auto& p : s.concurrency) {
    if (p.second > BucketOf(now) - 6s) p.concurrency = 40;
  }
  Decision d = Decide(s, Spec(0, 100, 10), {}, now);
  EXPECT_TRUE(d.panicking);
  EXPECT_EQ(d.desired, 4);
  EXPECT_EQ(d.reason, "panic");
  EXPECT_EQ(d.state.panic_since, now);

  // Under 2x: no panic, the stable window rules.
  for (auto& p : s.concurrency) {
    if (p.second > BucketOf(now) - 6s) p.concurrency = 30;
  }
  d = Decide(s, Spec(0, 100, 10), {}, now);
  EXPECT_FALSE(d.panicking);
  EXPECT_EQ(d.desired, 2);  // ceil(12 / 10)
}

TEST(Decide, PanicNeverScalesDownWhileRequestsArriveAndEndsAStableWindowAfterTheLastCondition) {
  const api::ScalingSpec spec = Spec(0, 100, 10, 5);
  MonotonicTime now = kT0 + 1000s;
  // Ready 2, a panic burst asking for 8.
  Samples s = Load(now, 80, 2, 2);
  s.concurrency = Constant(now, 6, 80);
  Decision d = Decide(s, spec, {}, now);
  ASSERT_TRUE(d.panicking);
  ASSERT_EQ(d.desired, 8);
  DecisionState state = d.state;
  const MonotonicTime last_condition = now;

  // The burst is over and the replicas became ready, but requests still
  // arrive (one every 4 s, under the 5 s idle setting; or one long request
  // in flight): the function is not idle, and for the next 60 s the desired
  // count never goes below 8, whatever the (near zero) load asks for.
  struct Case {
    std::string name;
    Duration arrival_every;
    int64_t in_flight;
  };
  for (const Case& c : std::vector<Case>{{"a request every 4 s", 4s, 0},
                                         {"a request every second", 1s, 0},
                                         {"one long request in flight", 3600s, 1}}) {
    DecisionState st = state;
    int32_t current = 8;
    for (int t = 1; t < 60; ++t) {
      now = last_condition + std::chrono::seconds(t);
      Samples quiet;
      quiet.live_activators = 1;
      const auto since = (now - last_condition) / c.arrival_every * c.arrival_every;
      quiet.last_request_time = last_condition + since;
      quiet.in_flight = c.in_flight;
      quiet.concurrency = Constant(now, 1, 0.1);
      quiet.ready_replicas = current;
      quiet.current_desired = current;
      d = Decide(quiet, spec, st, now);
      ASSERT_TRUE(d.panicking) << c.name << " t=" << t;
      ASSERT_GE(d.desired, 8) << c.name << " t=" << t;
      ASSERT_EQ(d.reason, "panic") << c.name << " t=" << t;
      st = d.state;
      current = d.desired;
    }
  }
  // A stable window after the last panic condition: panic ends and, with
  // traffic still trickling, scale-down starts, rate-limited.
  now = last_condition + 60s;
  Samples quiet;
  quiet.live_activators = 1;
  quiet.last_request_time = now;
  quiet.ready_replicas = 8;
  quiet.current_desired = 8;
  d = Decide(quiet, spec, state, now);
  EXPECT_FALSE(d.panicking);
  EXPECT_EQ(d.desired, 4);
  EXPECT_EQ(d.reason, "scale-down-rate");
}

// Idle means idle: no arrival for scaleToZeroAfterSeconds and nothing in
// flight or queued goes to zero even right after a burst, exactly at that
// time; panic holds until then and no longer (it used to hold for the whole
// 60 s stable window).
TEST(Decide, IdleWinsOverPanicExactlyScaleToZeroAfterSecondsAfterTheLastArrival) {
  struct Case {
    std::string name;
    int idle_seconds;
    int min_replicas;
    int64_t in_flight_at_deadline;
    int64_t queued_at_deadline;
    int32_t want;  // at last arrival + idle_seconds
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"1 s setting", 1, 0, 0, 0, 0, "idle"},
      {"5 s setting", 5, 0, 0, 0, 0, "idle"},
      {"15 s setting (the README demo)", 15, 0, 0, 0, 0, "idle"},
      {"20 s setting", 20, 0, 0, 0, 0, "idle"},
      {"59 s setting", 59, 0, 0, 0, 0, "idle"},
      {"a request still in flight keeps panic", 15, 0, 1, 0, 8, "panic"},
      {"a request still queued keeps panic", 15, 0, 0, 1, 8, "panic"},
      {"minReplicas 2 goes to 2, not to the burst's 8", 15, 2, 0, 0, 2, "min-replicas"},
  };
  for (const Case& c : cases) {
    const api::ScalingSpec spec = Spec(c.min_replicas, 100, 10, c.idle_seconds);
    // A burst: ready 2, the panic window asks for 8. Its last request
    // arrives 300 ms into the burst's last second.
    const MonotonicTime last_arrival = kT0 + 1000s + 300ms;
    MonotonicTime now = kT0 + 1000s;
    Samples burst = Load(now, 80, 2, 2);
    burst.concurrency = Constant(now, 6, 80);
    burst.last_request_time = last_arrival;
    burst.in_flight = 40;
    Decision d = Decide(burst, spec, {}, now);
    ASSERT_TRUE(d.panicking) << c.name;
    ASSERT_EQ(d.desired, 8) << c.name;
    DecisionState state = d.state;
    int32_t current = d.desired;

    // The burst drains; nothing arrives any more. Every 100 ms before the
    // deadline, panic holds the 8 replicas.
    const MonotonicTime deadline = last_arrival + std::chrono::seconds(c.idle_seconds);
    auto quiet = [&](bool at_deadline) {
      Samples q;
      q.live_activators = 1;
      q.concurrency = burst.concurrency;  // the panic window still sees the burst
      q.last_request_time = last_arrival;
      q.in_flight = at_deadline ? c.in_flight_at_deadline : 0;
      q.queued = at_deadline ? c.queued_at_deadline : 0;
      q.ready_replicas = current;
      q.current_desired = current;
      return q;
    };
    for (now = last_arrival + 100ms; now < deadline; now += 100ms) {
      d = Decide(quiet(false), spec, state, now);
      ASSERT_EQ(d.desired, 8) << c.name << " at +" << ToSeconds(now - last_arrival) << " s";
      ASSERT_TRUE(d.panicking) << c.name;
      state = d.state;
      current = d.desired;
    }
    d = Decide(quiet(true), spec, state, deadline);
    EXPECT_EQ(d.desired, c.want) << c.name;
    EXPECT_EQ(d.reason, c.reason) << c.name;
    if (c.reason != "panic") {
      // Panic is over with it: a request after this starts from scratch.
      EXPECT_FALSE(d.panicking) << c.name;
      EXPECT_FALSE(d.state.panic_since.has_value()) << c.name;
      EXPECT_EQ(d.state.max_panic_replicas, 0) << c.name;
    }
  }
}

// Decide is total: samples that slipped past the range checks cannot make it
// convert NaN, infinity or 1e300 to an integer.
TEST(Decide, InsaneSamplesDoNotReachIntegerConversion) {
  const MonotonicTime now = kT0 + 1000s;
  for (double insane :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), 1e300, -1e300}) {
    Samples s = Load(now, insane, 2, 2);
    Decision d = Decide(s, Spec(0, 10, 10), {}, now);
    EXPECT_GE(d.desired, 0) << insane;
    EXPECT_LE(d.desired, 10) << insane;
  }
}

TEST(Decide, PanicExtendsWhileTheConditionHolds) {
  const api::ScalingSpec spec = Spec(0, 100, 10);
  MonotonicTime now = kT0 + 1000s;
  DecisionState state;
  int32_t ready = 1;
  // Sustained overload for 3 minutes: panic must last throughout.
  for (int t = 0; t < 180; ++t) {
    now = kT0 + 1000s + std::chrono::seconds(t);
    Samples s = Load(now, 10.0 * 2 * ready, ready, ready);
    Decision d = Decide(s, spec, state, now);
    ASSERT_TRUE(d.panicking) << t;
    state = d.state;
    ready = std::min(d.desired, 40);  // capacity lags
  }
  EXPECT_EQ(state.panic_since, kT0 + 1000s);
}

TEST(Decide, ScaleDownRateIsBounded) {
  MonotonicTime now = kT0 + 1000s;
  int32_t replicas = 64;
  std::vector<int32_t> seen;
  DecisionState state;
  for (int i = 0; i < 8; ++i) {
    Samples s = Load(now, 0.5, replicas, replicas);  // wants 1
    Decision d = Decide(s, Spec(0, 100, 10), state, now);
    ASSERT_GE(d.desired, replicas / 2);
    state = d.state;
    replicas = d.desired;
    seen.push_back(replicas);
    now += 1s;
  }
  EXPECT_EQ(seen, (std::vector<int32_t>{32, 16, 8, 4, 2, 1, 1, 1}));
}

TEST(Decide, ScaleUpRateIsBounded) {
  const MonotonicTime now = kT0 + 1000s;
  Tuning tuning;
  tuning.max_scale_up_rate = 3;
  tuning.panic_threshold = 1000;  // keep panic out of this test
  Decision d = Decide(Load(now, 1000, 2, 2), Spec(0, 1000, 10), {}, now, tuning);
  EXPECT_EQ(d.desired, 6);
  EXPECT_EQ(d.reason, "scale-up-rate");
  // Default rate 1000x does not bind here.
  d = Decide(Load(now, 1000, 2, 2), Spec(0, 1000, 10), {}, now);
  EXPECT_EQ(d.desired, 100);
}

TEST(Decide, MinAndMaxBoundsHold) {
  const MonotonicTime now = kT0 + 1000s;
  struct Case {
    std::string name;
    int min, max;
    double concurrency;
    int32_t ready;
    bool idle;
    int32_t want;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"max caps stable", 0, 5, 200, 5, false, 5, "max-replicas"},
      {"max caps panic", 0, 3, 200, 1, false, 3, "max-replicas"},
      {"min floors stable", 4, 10, 1, 4, false, 4, "min-replicas"},
      {"min floors idle", 2, 10, 0, 2, true, 2, "min-replicas"},
      {"min one never zero", 1, 10, 0, 1, true, 1, "min-replicas"},
      {"min equals max", 3, 3, 100, 3, false, 3, "max-replicas"},
  };
  for (const auto& c : cases) {
    Samples s = Load(now, c.concurrency, c.ready, c.ready);
    if (c.idle) {
      s.concurrency.clear();
      s.last_request_time = now - 3600s;
    }
    Decision d = Decide(s, Spec(c.min, c.max, 10), {}, now);
    EXPECT_EQ(d.desired, c.want) << c.name;
    EXPECT_EQ(d.reason, c.reason) << c.name;
  }
  // At zero with min > 0 (e.g. minReplicas raised): brought up to min.
  Samples zero;
  zero.live_activators = 1;
  EXPECT_EQ(Decide(zero, Spec(2, 10, 10), {}, now).desired, 2);
}

// Idleness: exactly scaleToZeroAfterSeconds after the last request, not one
// tick earlier.
TEST(Decide, IdleReachesZeroExactlyAfterTheConfiguredTime) {
  const MonotonicTime last_request = kT0 + 1000s;
  for (int idle_seconds : {1, 30, 60, 300}) {
    Samples s;
    s.live_activators = 1;
    s.last_request_time = last_request;
    s.ready_replicas = 1;
    s.current_desired = 1;
    const api::ScalingSpec spec = Spec(0, 10, 10, idle_seconds);
    DecisionState state;
    for (MonotonicTime now = last_request; now < last_request + std::chrono::seconds(idle_seconds);
         now += 100ms) {
      Decision d = Decide(s, spec, state, now);
      ASSERT_EQ(d.desired, 1) << idle_seconds << "s idle setting, at " << ToSeconds(now - last_request);
      state = d.state;
    }
    Decision d = Decide(s, spec, state, last_request + std::chrono::seconds(idle_seconds));
    EXPECT_EQ(d.desired, 0) << idle_seconds;
    EXPECT_EQ(d.reason, "idle");
    EXPECT_EQ(d.state.scaled_to_zero_at, last_request + std::chrono::seconds(idle_seconds));
  }
}

TEST(Decide, InFlightOrQueuedBlocksZero) {
  const MonotonicTime now = kT0 + 1000s;
  for (auto [in_flight, queued] : {std::pair{1, 0}, std::pair{0, 1}, std::pair{5, 5}}) {
    Samples s;
    s.live_activators = 1;
    s.last_request_time = now - 3600s;  // a 1-hour request still running
    s.in_flight = in_flight;
    s.queued = queued;
    s.ready_replicas = 1;
    s.current_desired = 1;
    EXPECT_GE(Decide(s, Spec(0, 10, 10), {}, now).desired, 1) << in_flight << "/" << queued;
  }
}

TEST(Decide, NewLeaderWaitsAFullPeriodBeforeZeroWhenNoRequestIsKnown) {
  MonotonicTime now = kT0;
  Samples s;
  s.live_activators = 1;
  s.ready_replicas = 2;
  s.current_desired = 2;
  DecisionState state;
  Decision d = Decide(s, Spec(0, 10, 10, 60), state, now);
  EXPECT_EQ(d.desired, 1);  // halves towards one, keeps one
  state = d.state;
  s.ready_replicas = s.current_desired = 1;
  EXPECT_EQ(Decide(s, Spec(0, 10, 10, 60), state, now + 59s).desired, 1);
  EXPECT_EQ(Decide(s, Spec(0, 10, 10, 60), state, now + 60s).desired, 0);
}

TEST(Decide, NoFreshReportHoldsTheCurrentCount) {
  const MonotonicTime now = kT0 + 1000s;
  Samples s = Load(now, 0, 5, 5);
  s.live_activators = 0;
  s.last_request_time = now - 3600s;
  Decision d = Decide(s, Spec(0, 10, 10), {}, now);
  EXPECT_EQ(d.desired, 5);
  EXPECT_EQ(d.reason, "no-data");
  s.current_desired = 0;
  s.ready_replicas = 0;
  EXPECT_EQ(Decide(s, Spec(0, 10, 10), {}, now).desired, 0);
}

TEST(Decide, StartingReplicasAreNotScaledDown) {
  const MonotonicTime now = kT0 + 1000s;
  Samples s;
  s.live_activators = 1;
  s.last_request_time = now - 1s;
  s.ready_replicas = 0;
  s.current_desired = 5;  // woken by a burst, pods not ready yet
  Decision d = Decide(s, Spec(0, 10, 10), {}, now);
  EXPECT_EQ(d.desired, 5);
  EXPECT_EQ(d.reason, "starting");
  s.queued = 80;  // more arrives while they start
  EXPECT_EQ(Decide(s, Spec(0, 10, 10), {}, now).desired, 8);
}

// Issue 6 part 3: a request that races the scale-down. The decision to go
// to zero has been taken; before or after the patch lands, the activator
// buffers a request. The next decision wakes the function.
TEST(Decide, RequestRacingScaleDownWakesAgain) {
  const api::ScalingSpec spec = Spec(0, 10, 10, 60);
  const MonotonicTime last = kT0 + 1000s;
  Samples s;
  s.live_activators = 1;
  s.last_request_time = last;
  s.ready_replicas = 1;
  s.current_desired = 1;
  Decision zero = Decide(s, spec, {}, last + 60s);
  ASSERT_EQ(zero.desired, 0);

  // (a) The patch to 0 has not landed (current still 1, pod still ready).
  Samples racing = s;
  racing.queued = 1;
  EXPECT_GE(Decide(racing, spec, zero.state, last + 60s + 100ms).desired, 1);
  // (b) The patch landed; the pod is gone; the request waits in the buffer.
  racing.current_desired = 0;
  racing.ready_replicas = 0;
  Decision woke = Decide(racing, spec, zero.state, last + 61s);
  EXPECT_EQ(woke.desired, 1);
  EXPECT_EQ(woke.reason, "wake");
  EXPECT_FALSE(woke.state.scaled_to_zero_at.has_value());
  // (c) The request was answered by a Wake already; the report only carries
  // its arrival time.
  Samples arrived = s;
  arrived.current_desired = 0;
  arrived.ready_replicas = 0;
  arrived.last_request_time = last + 60s + 10ms;
  EXPECT_EQ(Decide(arrived, spec, zero.state, last + 61s).desired, 1);
}

TEST(Decide, IsPure) {
  const MonotonicTime now = kT0 + 1000s;
  Samples s = Load(now, 37, 3, 3);
  DecisionState state;
  state.tracking_since = now - 10s;
  Decision a = Decide(s, Spec(0, 10, 10), state, now);
  Decision b = Decide(s, Spec(0, 10, 10), state, now);
  EXPECT_EQ(a.desired, b.desired);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.reason, b.reason);
}

}  // namespace
}  // namespace zs::autoscaler
