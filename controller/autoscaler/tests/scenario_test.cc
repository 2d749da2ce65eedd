// End-to-end scenarios over time: a simulated activator reports to the
// StatsAggregator each second, the Autoscaler decides, a simulated
// Deployment follows. Everything runs on a ManualClock.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "controller/autoscaler/autoscaler.h"
#include "controller/autoscaler/stats_aggregator.h"

namespace zs::autoscaler {
namespace {

const FunctionKey kFn{"default", "hello"};

class Simulation {
 public:
  // One simulated activator per entry: its clock's offset from ours.
  Simulation(api::ScalingSpec spec, int32_t replicas, std::vector<Duration> activator_skews = {0s})
      : spec_(spec), autoscaler_(stats_, clock_), current_(replicas), ready_(replicas) {
    start_ = clock_.Now();
    for (size_t i = 0; i < activator_skews.size(); ++i) {
      Activator a;
      a.id = "activator-" + std::to_string(i);
      a.skew = activator_skews[i];
      activators_.push_back(std::move(a));
    }
  }

  // `count` requests arriving `offset` into the current second, each taking
  // `duration` once a replica is ready; spread round-robin over the
  // activators, or all to `activator`.
  void Arrive(int count, Duration duration, Duration offset = Duration::zero(), int activator = -1) {
    for (int i = 0; i < count; ++i) {
      const size_t to = activator >= 0 ? static_cast<size_t>(activator) : next_++ % activators_.size();
      activators_[to].pending.push_back({clock_.Now() + offset, duration});
    }
  }

  // One second: requests run, each activator reports, the autoscaler
  // decides, the Deployment follows (new replicas are ready one second later).
  Decision Step() {
    const MonotonicTime window_start = clock_.Now();
    const MonotonicTime window_end = window_start + 1s;
    std::vector<FunctionLoad> loads;
    for (Activator& a : activators_) loads.push_back(a.Run(window_start, window_end, ready_ > 0));
    for (const Activator& a : activators_) {
      if (a.last_arrival) last_arrival_ = std::max(last_arrival_.value_or(*a.last_arrival), *a.last_arrival);
    }

    clock_.Advance(1s);
    for (size_t i = 0; i < activators_.size(); ++i) {
      const Activator& a = activators_[i];
      // Everything the activator says about time, it says on its own clock.
      StatsReport report;
      report.activator_id = a.id;
      report.window_end = clock_.WallNow() + a.skew;
      FunctionLoad load = loads[i];
      if (a.last_arrival) {
        load.last_request_time = clock_.WallNow() + a.skew - (clock_.Now() - *a.last_arrival);
      }
      report.functions.push_back(load);
      stats_.Ingest(report);
    }

    Decision d = autoscaler_.Evaluate(kFn, spec_, ready_, current_);
    ready_ = std::min(current_, d.desired);  // last tick's replicas are ready now
    current_ = d.desired;
    return d;
  }

  MonotonicTime start() const { return start_; }
  MonotonicTime now() const { return clock_.Now(); }
  std::optional<MonotonicTime> last_arrival() const { return last_arrival_; }

 private:
  struct Pending {
    MonotonicTime at;
    Duration duration;
  };
  struct Running {
    MonotonicTime start;
    MonotonicTime end;
  };
  struct Activator {
    std::string id;
    Duration skew = Duration::zero();
    std::vector<Pending> pending;
    std::vector<Pending> queued;
    std::vector<Running> running;
    std::optional<MonotonicTime> last_arrival;

    // The window's load; times are filled in by the caller.
    FunctionLoad Run(MonotonicTime window_start, MonotonicTime window_end, bool replica_ready) {
      // Requests waiting for a replica start as soon as one is ready.
      if (replica_ready) {
        for (auto& r : queued) running.push_back({window_start, window_start + r.duration});
        queued.clear();
      }
      uint64_t arrived = 0;
      for (auto it = pending.begin(); it != pending.end();) {
        if (it->at < window_end) {
          ++arrived;
          last_arrival = std::max(last_arrival.value_or(it->at), it->at);
          if (replica_ready) {
            running.push_back({it->at, it->at + it->duration});
          } else {
            queued.push_back(*it);
          }
          it = pending.erase(it);
        } else {
          ++it;
        }
      }
      double busy = 0;
      uint32_t in_flight = 0;
      for (const auto& r : running) {
        const MonotonicTime from = std::max(r.start, window_start);
        const MonotonicTime to = std::min(r.end, window_end);
        if (to > from) busy += ToSeconds(to - from);
        if (r.end > window_end) ++in_flight;
      }
      std::erase_if(running, [&](const Running& r) { return r.end <= window_end; });
      FunctionLoad load;
      load.function = kFn;
      load.average_concurrency = busy;
      load.requests = arrived;
      load.in_flight = in_flight;
      load.queued = static_cast<uint32_t>(queued.size());
      return load;
    }
  };
  ManualClock clock_;
  StatsAggregator stats_{clock_};
  api::ScalingSpec spec_;
  Autoscaler autoscaler_;
  int32_t current_;
  int32_t ready_;
  MonotonicTime start_;
  std::vector<Activator> activators_;
  size_t next_ = 0;
  std::optional<MonotonicTime> last_arrival_;
};

api::ScalingSpec Spec(int idle_seconds, int target = 10, int max = 10) {
  api::ScalingSpec spec;
  spec.min_replicas = 0;
  spec.max_replicas = max;
  spec.target_concurrency = target;
  spec.scale_to_zero_after_seconds = idle_seconds;
  return spec;
}

// KEDA #1352: one short request every few seconds averages to ~0 sampled
// concurrency, yet the function is in use and must never go to zero.
TEST(Scenario, SteadyLowTrafficNeverScalesToZero) {
  for (int gap : {1, 10, 30, 45, 59}) {
    Simulation sim(Spec(60), 1);
    for (int t = 0; t < 600; ++t) {
      if (t % gap == 0) sim.Arrive(1, 20ms, 300ms);
      Decision d = sim.Step();
      ASSERT_GE(d.desired, 1) << "gap " << gap << "s, t=" << t << "s, reason " << d.reason;
      ASSERT_LE(d.desired, 1) << "gap " << gap << "s, t=" << t;
    }
  }
}

TEST(Scenario, IdleReachesZeroExactlyAfterScaleToZeroAfterSeconds) {
  for (int idle : {10, 60}) {
    Simulation sim(Spec(idle), 1);
    sim.Arrive(1, 500ms);  // at t=0 exactly
    const MonotonicTime arrival = sim.now();
    std::optional<MonotonicTime> zero_at;
    for (int t = 0; t < idle + 30 && !zero_at; ++t) {
      Decision d = sim.Step();
      if (d.desired == 0) zero_at = sim.now();
    }
    ASSERT_TRUE(zero_at.has_value());
    EXPECT_EQ(*zero_at - arrival, std::chrono::seconds(idle)) << idle;
  }
}

TEST(Scenario, BurstFromZeroScalesToNAtOnceAndBackToZero) {
  Simulation sim(Spec(60, /*target=*/10, /*max=*/20), 0);
  sim.Arrive(100, 5s);
  Decision first = sim.Step();
  EXPECT_EQ(first.desired, 10);  // 100 queued / 10 per replica, in one tick
  EXPECT_EQ(first.reason, "wake");
  int32_t peak = first.desired;
  std::optional<MonotonicTime> zero_at;
  for (int t = 1; t < 120 && !zero_at; ++t) {
    Decision d = sim.Step();
    peak = std::max(peak, d.desired);
    if (d.desired == 0) zero_at = sim.now();
  }
  EXPECT_LE(peak, 20);
  ASSERT_TRUE(zero_at.has_value());
  EXPECT_EQ(*zero_at - sim.start(), 60s);  // the burst arrived at 0
}

TEST(Scenario, RequestRacingTheScaleDownWakesTheFunctionAgain) {
  Simulation sim(Spec(5), 1);
  sim.Arrive(1, 100ms);
  Decision d;
  int t = 0;
  for (; t < 30; ++t) {
    d = sim.Step();
    if (d.desired == 0) break;
  }
  ASSERT_EQ(d.desired, 0);
  // Right after the decision to go to zero, before the next tick, a request
  // arrives; there is no ready replica, so the activator buffers it.
  sim.Arrive(1, 100ms, 1ms);
  d = sim.Step();
  EXPECT_EQ(d.desired, 1);
  EXPECT_EQ(d.reason, "wake");
  // It is served and, 5 s after it, the function goes back to zero.
  int ones = 0;
  while ((d = sim.Step()).desired == 1) ++ones;
  EXPECT_EQ(d.desired, 0);
  EXPECT_EQ(ones, 4);
}

TEST(Scenario, SustainedLoadSettlesAtTheTargetWithoutOscillation) {
  Simulation sim(Spec(60, /*target=*/10, /*max=*/50), 1);
  std::vector<int32_t> trajectory;
  for (int t = 0; t < 180; ++t) {
    // 50 requests/s of 1 s each: concurrency 50 -> 5 replicas.
    sim.Arrive(50, 1s);
    trajectory.push_back(sim.Step().desired);
  }
  // Settled: the last two minutes are all 5.
  for (size_t i = 60; i < trajectory.size(); ++i) ASSERT_EQ(trajectory[i], 5) << i;
}

// Idle means idle (the README demo: scaleToZeroAfterSeconds 15 reached zero
// 65 s after its burst; 1,000 requests with 20 s after 61 s, because panic
// held the burst's replicas for its 60 s stable window). Now: exactly
// scaleToZeroAfterSeconds after the last arrival.
TEST(Scenario, BurstThenIdleReachesZeroExactlyScaleToZeroAfterSecondsAfterTheLastArrival) {
  for (int idle : {5, 15, 20}) {
    Simulation sim(Spec(idle, /*target=*/10, /*max=*/10), 1);
    bool panicked = false;
    int32_t peak = 0;
    std::optional<MonotonicTime> zero_at;
    for (int t = 0; t < 120 && !zero_at; ++t) {
      if (t < 5) sim.Arrive(200, 2s);  // 1,000 requests over 5 s
      Decision d = sim.Step();
      panicked = panicked || d.panicking;
      peak = std::max(peak, d.desired);
      if (d.desired == 0) zero_at = sim.now();
    }
    ASSERT_TRUE(panicked) << idle;
    EXPECT_EQ(peak, 10) << idle;
    ASSERT_TRUE(zero_at.has_value()) << idle;
    ASSERT_TRUE(sim.last_arrival().has_value());
    EXPECT_EQ(*zero_at - *sim.last_arrival(), std::chrono::seconds(idle)) << idle;
  }
}

// Panic never scales down while requests keep arriving, however little load
// they bring; once they stop, idleness ends it.
TEST(Scenario, PanicNeverScalesDownWhileRequestsArrive) {
  Simulation sim(Spec(5, /*target=*/10, /*max=*/10), 1);
  for (int t = 0; t < 3; ++t) {
    sim.Arrive(100, 2s);
    sim.Step();
  }
  Decision d = sim.Step();
  ASSERT_TRUE(d.panicking);
  int32_t previous = d.desired;
  // A trickle: one short request every 2 s (under the 5 s idle setting).
  for (int t = 0; t < 50; ++t) {
    if (t % 2 == 0) sim.Arrive(1, 10ms, 500ms);
    d = sim.Step();
    ASSERT_TRUE(d.panicking) << t;
    ASSERT_GE(d.desired, previous) << t << " " << d.reason;
    previous = d.desired;
  }
  // The trickle stops: zero 5 s after its last request.
  std::optional<MonotonicTime> zero_at;
  for (int t = 0; t < 30 && !zero_at; ++t) {
    if (sim.Step().desired == 0) zero_at = sim.now();
  }
  ASSERT_TRUE(zero_at.has_value());
  EXPECT_LE(*zero_at - *sim.last_arrival(), 6s);
  EXPECT_GE(*zero_at - *sim.last_arrival(), 5s);
}

// Two activators, one whose clock runs ahead (or far behind): its reports
// of the last arrival are read on its own clock, its load is bucketed no
// later than now, and the Function still reaches zero exactly
// scaleToZeroAfterSeconds after the last arrival, whichever activator saw it.
TEST(Scenario, SkewedActivatorCannotHoldAFunctionUp) {
  struct Case {
    std::string name;
    Duration skew;
    int last_to;  // the activator that sees the last request
  };
  for (const Case& c : std::vector<Case>{{"10 min ahead, last request at the sane one", 10min, 0},
                                         {"10 min ahead, last request at the skewed one", 10min, 1},
                                         {"1 h behind, last request at the skewed one", -1h, 1},
                                         {"1.5 s ahead", 1500ms, 1}}) {
    Simulation sim(Spec(15, /*target=*/10, /*max=*/10), 1, {0s, c.skew});
    std::optional<MonotonicTime> zero_at;
    for (int t = 0; t < 120 && !zero_at; ++t) {
      if (t < 4) sim.Arrive(100, 2s);
      if (t == 4) sim.Arrive(1, 100ms, 250ms, c.last_to);
      if (sim.Step().desired == 0) zero_at = sim.now();
    }
    ASSERT_TRUE(zero_at.has_value()) << c.name;
    const Duration idle_for = *zero_at - *sim.last_arrival();
    // Decisions are taken once a second: at the first tick at least 15 s
    // after the last arrival (250 ms into its second).
    EXPECT_GE(idle_for, 15s) << c.name;
    EXPECT_LT(idle_for, 16s) << c.name;
  }
}

}  // namespace
}  // namespace zs::autoscaler
