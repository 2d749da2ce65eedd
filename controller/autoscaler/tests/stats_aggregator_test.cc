#include "controller/autoscaler/stats_aggregator.h"

#include <gtest/gtest.h>

#include <thread>

#include "controller/autoscaler/decide.h"

namespace zs::autoscaler {
namespace {

const FunctionKey kHello{"default", "hello"};
const FunctionKey kOther{"default", "other"};

StatsReport Report(const std::string& activator, std::vector<FunctionLoad> loads) {
  StatsReport r;
  r.activator_id = activator;
  r.window = 1s;
  r.functions = std::move(loads);
  return r;
}

StatsAggregator::Options Retention(Duration retention) {
  StatsAggregator::Options options;
  options.retention = retention;
  options.activator_expiry = 5s;
  return options;
}

FunctionLoad Load(const FunctionKey& key, double concurrency, uint32_t in_flight = 0, uint32_t queued = 0) {
  FunctionLoad l;
  l.function = key;
  l.average_concurrency = concurrency;
  l.in_flight = in_flight;
  l.queued = queued;
  return l;
}

TEST(StatsAggregator, SumsActivatorsPerSecond) {
  ManualClock clock;
  StatsAggregator agg(clock);
  agg.Ingest(Report("a", {Load(kHello, 3, 2, 1)}));
  agg.Ingest(Report("b", {Load(kHello, 4, 1, 5)}));
  Samples s = agg.SamplesFor(kHello);
  ASSERT_EQ(s.concurrency.size(), 1u);
  EXPECT_DOUBLE_EQ(s.concurrency[0].concurrency, 7);
  EXPECT_EQ(s.concurrency[0].second, BucketOf(clock.Now()));
  EXPECT_EQ(s.in_flight, 3);
  EXPECT_EQ(s.queued, 6);
  EXPECT_EQ(s.live_activators, 2);
  clock.Advance(1s);
  agg.Ingest(Report("a", {Load(kHello, 1)}));
  s = agg.SamplesFor(kHello);
  ASSERT_EQ(s.concurrency.size(), 2u);
  EXPECT_DOUBLE_EQ(s.concurrency[1].concurrency, 1);
}

TEST(StatsAggregator, ReconnectingActivatorReplacesNotAdds) {
  ManualClock clock;
  StatsAggregator agg(clock);
  agg.Ingest(Report("a", {Load(kHello, 10, 10, 4)}));
  // The same activator reconnects and reports again within the same second.
  clock.Advance(200ms);
  agg.Ingest(Report("a", {Load(kHello, 12, 11, 3)}));
  Samples s = agg.SamplesFor(kHello);
  ASSERT_EQ(s.concurrency.size(), 1u);
  EXPECT_DOUBLE_EQ(s.concurrency[0].concurrency, 11);  // averaged, not 22
  EXPECT_EQ(s.in_flight, 11);
  EXPECT_EQ(s.queued, 3);
  EXPECT_EQ(s.live_activators, 1);
}

TEST(StatsAggregator, FunctionNotMentionedHasNothingPendingThere) {
  ManualClock clock;
  StatsAggregator agg(clock);
  agg.Ingest(Report("a", {Load(kHello, 1, 1, 1), Load(kOther, 1, 1, 1)}));
  clock.Advance(1s);
  agg.Ingest(Report("a", {Load(kOther, 1, 1, 1)}));
  Samples s = agg.SamplesFor(kHello);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.queued, 0);
  EXPECT_EQ(agg.SamplesFor(kOther).in_flight, 1);
}

TEST(StatsAggregator, SilentActivatorExpiresButItsHistoryAndLastRequestStay) {
  ManualClock clock;
  StatsAggregator agg(clock, Retention(60s));
  FunctionLoad load = Load(kHello, 8, 3, 2);
  load.requests = 4;
  load.last_request_time = clock.WallNow();
  agg.Ingest(Report("a", {load}));
  const MonotonicTime arrival = clock.Now();
  agg.Ingest(Report("b", {Load(kHello, 1, 1, 0)}));
  clock.Advance(3s);
  agg.Ingest(Report("b", {Load(kHello, 1, 1, 0)}));
  clock.Advance(2s);  // "a" silent for exactly the expiry: still counts
  EXPECT_EQ(agg.SamplesFor(kHello).queued, 2);
  clock.Advance(1ms);
  Samples s = agg.SamplesFor(kHello);
  EXPECT_EQ(s.live_activators, 1);
  EXPECT_EQ(s.queued, 0);
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_EQ(s.last_request_time, arrival);
  ASSERT_FALSE(s.concurrency.empty());
  EXPECT_DOUBLE_EQ(s.concurrency.front().concurrency, 9);
}

TEST(StatsAggregator, HistoryIsKeptForTheRetentionOnly) {
  ManualClock clock;
  StatsAggregator agg(clock, Retention(10s));
  for (int i = 0; i < 30; ++i) {
    agg.Ingest(Report("a", {Load(kHello, i)}));
    clock.Advance(1s);
  }
  Samples s = agg.SamplesFor(kHello);
  ASSERT_FALSE(s.concurrency.empty());
  EXPECT_LE(s.concurrency.size(), 11u);
  EXPECT_DOUBLE_EQ(s.concurrency.back().concurrency, 29);
  EXPECT_GE(s.concurrency.front().second, BucketOf(clock.Now()) - 10s);
}

TEST(StatsAggregator, LastRequestAgeIsReadOnTheActivatorsOwnClock) {
  struct Case {
    std::string name;
    Duration skew;  // the activator's clock minus ours
  };
  for (const Case& c : std::vector<Case>{{"in sync", 0s},
                                         {"ten minutes ahead", 10min},
                                         {"an hour behind", -1h},
                                         {"a second ahead", 1s},
                                         {"within the delivery tolerance behind", -1500ms}}) {
    ManualClock clock;
    StatsAggregator agg(clock);
    FunctionLoad load = Load(kHello, 0);
    StatsReport report = Report("a", {});
    report.window_end = clock.WallNow() + c.skew;
    load.last_request_time = *report.window_end - 30s;  // 30 s ago by its clock
    report.functions = {load};
    agg.Ingest(report);
    // Skew within the tolerance moves the report's time (and so the
    // arrival) by the skew; beyond it, not at all. Never into the future.
    const Duration shift = (c.skew < 0s && c.skew >= -2s) ? c.skew : Duration::zero();
    EXPECT_EQ(agg.SamplesFor(kHello).last_request_time, clock.Now() - 30s + shift) << c.name;
  }
}

TEST(StatsAggregator, WithoutAReportTimeLastRequestIsReadOnOurClockAndClampedToNow) {
  ManualClock clock;
  StatsAggregator agg(clock);
  FunctionLoad load = Load(kHello, 0);
  load.last_request_time = clock.WallNow() - 30s;
  agg.Ingest(Report("a", {load}));
  EXPECT_EQ(agg.SamplesFor(kHello).last_request_time, clock.Now() - 30s);
  load.last_request_time = clock.WallNow() + 10min;
  agg.Ingest(Report("b", {load}));
  EXPECT_EQ(agg.SamplesFor(kHello).last_request_time, clock.Now());
}

// Samples land in the bucket of the second they were measured in, range
// checked against our clock: never in the future, never more than
// max_report_age in the past.
TEST(StatsAggregator, SamplesAreBucketedByWhenTheyWereMeasured) {
  struct Case {
    std::string name;
    Duration age;  // our wall clock minus the report's window_end
    Duration bucket_back;
  };
  const std::vector<Case> cases = {
      {"measured now", 0s, 0s},
      {"delivered 1.2 s late", 1200ms, 1s},  // now is 0.5 s into its second
      {"exactly the tolerance", 2s, 2s},
      {"beyond the tolerance: a clock behind", 2001ms, 0s},
      {"an hour behind", 1h, 0s},
      {"ahead", -30s, 0s},
  };
  for (const Case& c : cases) {
    ManualClock clock;
    clock.Advance(500ms);
    StatsAggregator agg(clock);
    StatsReport report = Report("a", {Load(kHello, 3)});
    report.window_end = clock.WallNow() - c.age;
    agg.Ingest(report);
    Samples s = agg.SamplesFor(kHello);
    ASSERT_EQ(s.concurrency.size(), 1u) << c.name;
    EXPECT_EQ(s.concurrency[0].second, BucketOf(clock.Now()) - c.bucket_back) << c.name;
  }
}

TEST(StatsAggregator, UnknownFunctionsGetNoState) {
  ManualClock clock;
  StatsAggregator::Options options;
  options.known = [](const FunctionKey& key) { return key == kHello; };
  StatsAggregator agg(clock, options);
  FunctionLoad other = Load(kOther, 5, 5, 5);
  other.requests = 3;
  other.last_request_time = clock.WallNow();
  agg.Ingest(Report("a", {Load(kHello, 1, 1, 0), other}));
  EXPECT_EQ(agg.Functions(), std::vector<FunctionKey>{kHello});
  EXPECT_FALSE(agg.NoteRequest(kOther));
  EXPECT_EQ(agg.Functions(), std::vector<FunctionKey>{kHello});
  Samples s = agg.SamplesFor(kOther);
  EXPECT_TRUE(s.concurrency.empty());
  EXPECT_FALSE(s.last_request_time.has_value());
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_TRUE(agg.NoteRequest(kHello));
}

TEST(StatsAggregator, RequestsInTheWindowCountEvenWithABehindClock) {
  ManualClock clock;
  StatsAggregator agg(clock);
  FunctionLoad load = Load(kHello, 0.1);
  load.requests = 1;
  load.last_request_time = clock.WallNow() - 1h;  // activator clock an hour behind
  agg.Ingest(Report("a", {load}));
  EXPECT_EQ(agg.SamplesFor(kHello).last_request_time, clock.Now() - 1s);
}

TEST(StatsAggregator, NoteRequestAndForget) {
  ManualClock clock;
  StatsAggregator agg(clock);
  agg.NoteRequest(kHello);
  EXPECT_EQ(agg.SamplesFor(kHello).last_request_time, clock.Now());
  EXPECT_EQ(agg.Functions(), std::vector<FunctionKey>{kHello});
  agg.Forget(kHello);
  EXPECT_FALSE(agg.SamplesFor(kHello).last_request_time.has_value());
  EXPECT_TRUE(agg.Functions().empty());
}

TEST(StatsAggregator, ConcurrentIngestAndRead) {
  ManualClock clock;
  StatsAggregator agg(clock);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        agg.Ingest(Report("act-" + std::to_string(t), {Load(kHello, 1, 1, 0)}));
        (void)agg.SamplesFor(kHello);
      }
    });
  }
  for (auto& th : threads) th.join();
  Samples s = agg.SamplesFor(kHello);
  EXPECT_EQ(s.in_flight, 4);
  ASSERT_EQ(s.concurrency.size(), 1u);
  EXPECT_DOUBLE_EQ(s.concurrency[0].concurrency, 4);
}

}  // namespace
}  // namespace zs::autoscaler
