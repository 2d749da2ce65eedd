#include "activator/admission/buffer.h"

#include <gtest/gtest.h>

#include <map>

namespace zs::activator {
namespace {

using namespace std::chrono_literals;

class FakeWaker : public Waker {
 public:
  void Wake(const FunctionKey& key, Done done) override {
    calls.push_back(key);
    pending.push_back(std::move(done));
  }
  void CompleteAll(const absl::Status& status, bool scaled = true) {
    auto todo = std::move(pending);
    pending.clear();
    for (auto& done : todo) done(status, scaled && status.ok());
  }
  std::vector<FunctionKey> calls;
  std::vector<Done> pending;
};

class FakeEvents : public BufferEvents {
 public:
  void OnQueued(const FunctionConfig& c, int delta) override { queued[c.key.String()] += delta; }
  void OnColdStart(const FunctionConfig& c) override { ++cold_starts[c.key.String()]; }
  void OnWakeDone(const FunctionConfig&, const absl::Status& s) override {
    s.ok() ? ++wakes_ok : ++wakes_failed;
  }
  std::map<std::string, int> queued;
  std::map<std::string, int> cold_starts;
  int wakes_ok = 0;
  int wakes_failed = 0;
};

// Records admissions delivered through callbacks, in delivery order.
struct Sink {
  std::vector<std::pair<int, Admission>> got;
  RequestBuffer::Callback For(int id) {
    return [this, id](Admission a) { got.emplace_back(id, std::move(a)); };
  }
};

class BufferTest : public ::testing::Test {
 protected:
  BufferTest() : buffer_(Options(), clock_, store_, waker_, &events_) {}

  static RequestBuffer::Options Options() {
    RequestBuffer::Options o;
    o.max_total = 8;
    o.wake_retry = 1s;
    o.rewake_after = 20s;
    return o;
  }

  std::shared_ptr<const FunctionConfig> Config(const std::string& name, int max_requests = 3,
                                               int max_conc = 0) {
    auto c = std::make_shared<FunctionConfig>();
    c->key = {"ns", name};
    c->buffer_max_requests = max_requests;
    c->buffer_timeout = 10s;
    c->max_concurrency = max_conc;
    return c;
  }

  std::optional<Admission> Acquire(const std::shared_ptr<const FunctionConfig>& c, int id,
                                   const std::vector<std::string>& avoid = {}) {
    return buffer_.Acquire(c, clock_.Now() + c->buffer_timeout, avoid, sink_.For(id));
  }

  ManualClock clock_;
  InMemoryEndpointStore store_;
  FakeWaker waker_;
  FakeEvents events_;
  Sink sink_;
  RequestBuffer buffer_;
};

TEST_F(BufferTest, ReadyEndpointAdmitsAtOnce) {
  auto c = Config("f");
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  auto a = Acquire(c, 1);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->error, ProxyError::kNone);
  ASSERT_TRUE(a->lease);
  EXPECT_EQ(a->lease.slot().address(), "10.0.0.1:80");
  EXPECT_EQ(a->lease.slot().in_flight(), 1);
  EXPECT_FALSE(a->queued);
  a->lease.Release();
  EXPECT_EQ(store_.Ready(c->key)->endpoints[0]->in_flight(), 0);
  EXPECT_TRUE(waker_.calls.empty());
}

TEST_F(BufferTest, ColdFunctionHoldsRequestsWakesOnceAndServesFifo) {
  auto c = Config("f");
  EXPECT_FALSE(Acquire(c, 1).has_value());
  clock_.Advance(100ms);
  EXPECT_FALSE(Acquire(c, 2).has_value());
  EXPECT_FALSE(Acquire(c, 3).has_value());
  EXPECT_EQ(waker_.calls.size(), 1u);  // one Wake per activation, not per request
  EXPECT_EQ(events_.queued["ns/f"], 3);
  EXPECT_EQ(buffer_.queued(c->key), 3);
  // A cold start is counted when the controller says it scaled from zero.
  EXPECT_EQ(events_.cold_starts["ns/f"], 0);
  waker_.CompleteAll(absl::OkStatus());
  EXPECT_EQ(events_.cold_starts["ns/f"], 1);

  clock_.Advance(400ms);
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  ASSERT_EQ(sink_.got.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sink_.got[i].first, i + 1);
    const Admission& a = sink_.got[i].second;
    EXPECT_EQ(a.error, ProxyError::kNone);
    EXPECT_TRUE(a.lease);
    EXPECT_TRUE(a.queued);
    EXPECT_TRUE(a.cold_start);
  }
  EXPECT_EQ(sink_.got[0].second.waited, 500ms);
  EXPECT_EQ(sink_.got[1].second.waited, 400ms);
  EXPECT_EQ(events_.queued["ns/f"], 0);
  EXPECT_EQ(buffer_.total_queued(), 0);
}

TEST_F(BufferTest, PerFunctionBoundRejectsWithQueueFull) {
  auto c = Config("f", /*max_requests=*/2);
  EXPECT_FALSE(Acquire(c, 1).has_value());
  EXPECT_FALSE(Acquire(c, 2).has_value());
  auto rejected = Acquire(c, 3);
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->error, ProxyError::kQueueFull);
  EXPECT_FALSE(rejected->lease);
  EXPECT_EQ(buffer_.queued(c->key), 2);
}

TEST_F(BufferTest, ZeroMaxRequestsNeverHolds) {
  auto c = Config("f", /*max_requests=*/0);
  auto rejected = Acquire(c, 1);
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->error, ProxyError::kQueueFull);
}

TEST_F(BufferTest, TotalBoundSpansFunctionsAndEachGetsAFairShare) {
  // max_total = 8; a Function may hold max_total / (n + 1), n counting the
  // Functions holding requests, itself included.
  auto f = Config("f", 100);
  auto g = Config("g", 100);
  auto h = Config("h", 100);
  auto i = Config("i", 100);
  auto j = Config("j", 100);
  int id = 0;
  auto hold = [&](const std::shared_ptr<const FunctionConfig>& c) {
    int held = 0;
    while (!Acquire(c, ++id).has_value()) ++held;
    return held;
  };
  EXPECT_EQ(hold(f), 4);  // alone: 8 / 2
  EXPECT_EQ(hold(g), 2);  // 8 / 3
  EXPECT_EQ(hold(h), 2);  // 8 / 4, the last two places
  EXPECT_EQ(buffer_.total_queued(), 8);
  EXPECT_EQ(hold(i), 0);  // the total is the bound
  auto rejected = Acquire(j, ++id);
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->error, ProxyError::kQueueFull);
}

TEST_F(BufferTest, AFullBufferStillWakesTheFunctionItRefused) {
  auto f = Config("f", 100);
  auto g = Config("g", 100);
  int id = 0;
  while (!Acquire(f, ++id).has_value()) {
  }
  while (!Acquire(g, ++id).has_value()) {
  }
  auto h = Config("h", 100);
  // Fill the rest with others so that h finds no room at all.
  for (const char* name : {"x1", "x2", "x3"}) Acquire(Config(name, 100), ++id);
  ASSERT_EQ(buffer_.total_queued(), 8);
  waker_.calls.clear();
  auto refused = Acquire(h, ++id);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->error, ProxyError::kQueueFull);
  // Refused, but woken: the client's retry finds it up.
  ASSERT_EQ(waker_.calls.size(), 1u);
  EXPECT_EQ(waker_.calls[0].name, "h");
  // A second refusal in the same activation does not wake again.
  EXPECT_TRUE(Acquire(h, ++id).has_value());
  EXPECT_EQ(waker_.calls.size(), 1u);
  waker_.CompleteAll(absl::OkStatus());
  EXPECT_EQ(events_.cold_starts["ns/h"], 1);
}

TEST_F(BufferTest, CancelTakesAHeldRequestBackWithoutAnAnswer) {
  auto c = Config("f");
  uint64_t first = 0;
  uint64_t second = 0;
  EXPECT_FALSE(buffer_.Acquire(c, clock_.Now() + 10s, {}, sink_.For(1), &first).has_value());
  EXPECT_FALSE(buffer_.Acquire(c, clock_.Now() + 10s, {}, sink_.For(2), &second).has_value());
  EXPECT_NE(first, second);
  EXPECT_TRUE(buffer_.Cancel(c->key, first));
  EXPECT_FALSE(buffer_.Cancel(c->key, first));  // only once
  EXPECT_EQ(buffer_.queued(c->key), 1);
  EXPECT_EQ(buffer_.total_queued(), 1);
  EXPECT_EQ(events_.queued["ns/f"], 1);
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(sink_.got[0].first, 2);
  EXPECT_FALSE(buffer_.Cancel(c->key, second));  // already admitted
}

TEST(BufferDeletion, DeletedFunctionAnswersItsHeldRequests404AndIsNeverWokenAgain) {
  ManualClock clock;
  InMemoryEndpointStore store;
  FakeWaker waker;
  FakeEvents events;
  InMemoryCatalog catalog;
  RequestBuffer::Options options;
  options.catalog = &catalog;
  RequestBuffer buffer(options, clock, store, waker, &events);
  FunctionConfig config;
  config.key = {"ns", "f"};
  config.buffer_timeout = 60s;
  catalog.Upsert(config);
  auto c = catalog.Lookup("ns", "f");
  Sink sink;
  EXPECT_FALSE(buffer.Acquire(c, clock.Now() + 60s, {}, sink.For(1)).has_value());
  EXPECT_FALSE(buffer.Acquire(c, clock.Now() + 60s, {}, sink.For(2)).has_value());
  EXPECT_EQ(waker.calls.size(), 1u);

  // The informer removes the Function, then its endpoints (a broadcast).
  catalog.Remove(c->key);
  store.Remove(c->key);
  ASSERT_EQ(sink.got.size(), 2u);
  for (const auto& [id, admission] : sink.got) EXPECT_EQ(admission.error, ProxyError::kUnknownFunction);
  EXPECT_EQ(buffer.total_queued(), 0);
  EXPECT_EQ(buffer.functions(), 0u);  // its state is freed
  clock.Advance(61s);
  buffer.Tick();
  EXPECT_EQ(waker.calls.size(), 1u);
}

TEST(BufferDeletion, TickNoticesADeletionWithoutAnEndpointChange) {
  ManualClock clock;
  InMemoryEndpointStore store;
  FakeWaker waker;
  InMemoryCatalog catalog;
  RequestBuffer::Options options;
  options.catalog = &catalog;
  RequestBuffer buffer(options, clock, store, waker, nullptr);
  FunctionConfig config;
  config.key = {"ns", "f"};
  catalog.Upsert(config);
  Sink sink;
  EXPECT_FALSE(buffer.Acquire(catalog.Lookup("ns", "f"), clock.Now() + 60s, {}, sink.For(1)).has_value());
  catalog.Remove(config.key);
  buffer.Tick();
  ASSERT_EQ(sink.got.size(), 1u);
  EXPECT_EQ(sink.got[0].second.error, ProxyError::kUnknownFunction);
}

TEST_F(BufferTest, DeadlineExpiresWithQueueTimeout) {
  auto c = Config("f");
  EXPECT_FALSE(Acquire(c, 1).has_value());
  clock_.Advance(5s);
  EXPECT_FALSE(Acquire(c, 2).has_value());
  clock_.Advance(4999ms);
  buffer_.Tick();
  EXPECT_TRUE(sink_.got.empty());
  clock_.Advance(1ms);
  buffer_.Tick();
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(sink_.got[0].first, 1);
  EXPECT_EQ(sink_.got[0].second.error, ProxyError::kQueueTimeout);
  EXPECT_EQ(sink_.got[0].second.waited, 10s);
  EXPECT_TRUE(sink_.got[0].second.cold_start);
  clock_.Advance(5s);
  buffer_.Tick();
  ASSERT_EQ(sink_.got.size(), 2u);
  EXPECT_EQ(sink_.got[1].second.error, ProxyError::kQueueTimeout);
  EXPECT_EQ(buffer_.total_queued(), 0);
  EXPECT_EQ(events_.queued["ns/f"], 0);
}

TEST_F(BufferTest, EarlierDeadlineGoesAhead) {
  auto c = Config("f");
  EXPECT_FALSE(Acquire(c, 1).has_value());
  // A retry keeps its original, earlier deadline and is served first.
  EXPECT_FALSE(buffer_.Acquire(c, clock_.Now() + 1s, {}, sink_.For(2)).has_value());
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  ASSERT_EQ(sink_.got.size(), 2u);
  EXPECT_EQ(sink_.got[0].first, 2);
  EXPECT_EQ(sink_.got[1].first, 1);
}

TEST_F(BufferTest, MaxConcurrencyHoldsTheExcessWithoutWaking) {
  auto c = Config("f", 3, /*max_conc=*/1);
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  auto first = Acquire(c, 1);
  ASSERT_TRUE(first && first->lease);
  EXPECT_FALSE(Acquire(c, 2).has_value());
  EXPECT_FALSE(Acquire(c, 3).has_value());
  EXPECT_TRUE(waker_.calls.empty());
  EXPECT_TRUE(sink_.got.empty());
  clock_.Advance(30ms);
  first->lease.Release();
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(sink_.got[0].first, 2);
  EXPECT_FALSE(sink_.got[0].second.cold_start);
  EXPECT_EQ(sink_.got[0].second.waited, 30ms);
  EXPECT_EQ(store_.Ready(c->key)->endpoints[0]->in_flight(), 1);
  // Dropping the admission releases its lease and lets the third in.
  Admission second = std::move(sink_.got[0].second);
  sink_.got.clear();
  second = Admission();
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(sink_.got[0].first, 3);
}

TEST_F(BufferTest, ArrivalsQueueBehindHeldRequests) {
  auto c = Config("f", 3, /*max_conc=*/1);
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}, {"10.0.0.2", 80, "q"}});
  auto a = Acquire(c, 1);
  auto b = Acquire(c, 2);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(Acquire(c, 3).has_value());
  // A slot frees; a new arrival must not jump the queue.
  a->lease.Release();
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(sink_.got[0].first, 3);
  EXPECT_FALSE(Acquire(c, 4).has_value());
}

TEST_F(BufferTest, FailedWakeIsRetriedAfterBackoffWithoutAnotherColdStart) {
  auto c = Config("f");
  EXPECT_FALSE(Acquire(c, 1).has_value());
  ASSERT_EQ(waker_.calls.size(), 1u);
  waker_.CompleteAll(absl::UnavailableError("no controller"));
  EXPECT_EQ(events_.wakes_failed, 1);
  EXPECT_EQ(events_.cold_starts["ns/f"], 0);  // a failed Wake scaled nothing
  EXPECT_FALSE(Acquire(c, 2).has_value());
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 1u);  // within the backoff
  clock_.Advance(1s);
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 2u);
  waker_.CompleteAll(absl::OkStatus());
  EXPECT_EQ(events_.cold_starts["ns/f"], 1);
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 2u);
}

TEST_F(BufferTest, BackoffDoubles) {
  auto c = Config("f");
  EXPECT_FALSE(Acquire(c, 1).has_value());
  waker_.CompleteAll(absl::UnavailableError("x"));
  clock_.Advance(1s);
  buffer_.Tick();
  ASSERT_EQ(waker_.calls.size(), 2u);
  waker_.CompleteAll(absl::UnavailableError("x"));
  clock_.Advance(1s);
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 2u);  // now 2 s
  clock_.Advance(1s);
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 3u);
}

TEST_F(BufferTest, SuccessfulWakeWithoutEndpointsIsRepeatedAfterRewakeAfter) {
  auto c = Config("f");
  auto long_wait = std::make_shared<FunctionConfig>(*c);
  long_wait->buffer_timeout = 60s;
  EXPECT_FALSE(Acquire(long_wait, 1).has_value());
  waker_.CompleteAll(absl::OkStatus());
  clock_.Advance(19s);
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 1u);
  clock_.Advance(1s);
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 2u);
  EXPECT_EQ(events_.cold_starts["ns/f"], 1);
}

TEST_F(BufferTest, LosingAllEndpointsStartsANewActivation) {
  auto c = Config("f");
  EXPECT_FALSE(Acquire(c, 1).has_value());
  waker_.CompleteAll(absl::OkStatus());
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  ASSERT_EQ(sink_.got.size(), 1u);
  sink_.got.clear();  // request done
  store_.Update(c->key, {});
  EXPECT_FALSE(Acquire(c, 2).has_value());
  EXPECT_EQ(waker_.calls.size(), 2u);
  // No held request while it had endpoints: losing them wakes nothing by itself.
  waker_.CompleteAll(absl::OkStatus());
  EXPECT_EQ(events_.cold_starts["ns/f"], 2);
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  sink_.got.clear();
  store_.Update(c->key, {});
  EXPECT_EQ(waker_.calls.size(), 2u);
}

TEST_F(BufferTest, LosingEndpointsWithHeldRequestsWakesAtOnce) {
  auto c = Config("f", 3, /*max_conc=*/1);
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  auto a = Acquire(c, 1);
  ASSERT_TRUE(a && a->lease);
  EXPECT_FALSE(Acquire(c, 2).has_value());  // held behind maxConcurrency
  EXPECT_TRUE(waker_.calls.empty());
  store_.Update(c->key, {});
  EXPECT_EQ(waker_.calls.size(), 1u);
  waker_.CompleteAll(absl::OkStatus());
  EXPECT_EQ(events_.cold_starts["ns/f"], 1);
}

TEST_F(BufferTest, AWakeThatFindsTheFunctionUpIsNoColdStart) {
  // Another activator (or the autoscaler) scaled it first: the controller
  // answers the Wake without scaling, and this activation is no cold start.
  auto c = Config("f");
  EXPECT_FALSE(Acquire(c, 1).has_value());
  waker_.CompleteAll(absl::OkStatus(), /*scaled=*/false);
  EXPECT_EQ(events_.wakes_ok, 1);
  EXPECT_EQ(events_.cold_starts["ns/f"], 0);
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}});
  EXPECT_EQ(sink_.got.size(), 1u);
}

TEST_F(BufferTest, FailAllAnswersEveryHeldRequest) {
  auto f = Config("f");
  auto g = Config("g");
  EXPECT_FALSE(Acquire(f, 1).has_value());
  EXPECT_FALSE(Acquire(g, 2).has_value());
  buffer_.FailAll(ProxyError::kShuttingDown);
  ASSERT_EQ(sink_.got.size(), 2u);
  for (auto& [id, a] : sink_.got) EXPECT_EQ(a.error, ProxyError::kShuttingDown);
  EXPECT_EQ(buffer_.total_queued(), 0);
}

TEST_F(BufferTest, AvoidedEndpointIsSkippedForTheImmediatePick) {
  auto c = Config("f");
  store_.Update(c->key, {{"10.0.0.1", 80, "p"}, {"10.0.0.2", 80, "q"}});
  for (int i = 0; i < 5; ++i) {
    auto a = Acquire(c, i, {"10.0.0.1:80"});
    ASSERT_TRUE(a && a->lease);
    EXPECT_EQ(a->lease.slot().address(), "10.0.0.2:80");
  }
  // Every endpoint avoided: held, and served by the next dispatch.
  EXPECT_FALSE(Acquire(c, 9, {"10.0.0.1:80", "10.0.0.2:80"}).has_value());
  buffer_.Tick();
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(sink_.got[0].second.error, ProxyError::kNone);
}

// The proxy's fast path: a free slot is claimed at once; anything else
// (no endpoint, no room, someone held ahead) is left to Acquire, with
// nothing held, woken or answered by the attempt.
TEST_F(BufferTest, TryAcquireClaimsOnlyAFreeSlotNobodyWaitsFor) {
  auto c = Config("f", 3, /*max_conc=*/1);
  EXPECT_FALSE(buffer_.TryAcquire(c, {}).has_value());
  EXPECT_TRUE(waker_.calls.empty());
  EXPECT_EQ(buffer_.queued(c->key), 0);

  store_.Update(c->key, {{"10.0.0.1", 80, "p"}, {"10.0.0.2", 80, "q"}});
  auto a = buffer_.TryAcquire(c, {"10.0.0.1:80"});
  ASSERT_TRUE(a && a->lease);
  EXPECT_EQ(a->lease.slot().address(), "10.0.0.2:80");
  EXPECT_FALSE(a->queued);
  // 10.0.0.2 is full and 10.0.0.1 avoided: held by Acquire, not by TryAcquire.
  EXPECT_FALSE(buffer_.TryAcquire(c, {"10.0.0.1:80"}).has_value());
  EXPECT_EQ(buffer_.queued(c->key), 0);
  EXPECT_FALSE(Acquire(c, 1, {"10.0.0.1:80"}).has_value());
  EXPECT_EQ(buffer_.queued(c->key), 1);
  // 10.0.0.1 has room, but request 1 is ahead: no jumping the queue.
  EXPECT_FALSE(buffer_.TryAcquire(c, {}).has_value());
  buffer_.Tick();
  ASSERT_EQ(sink_.got.size(), 1u);
  EXPECT_EQ(sink_.got[0].second.lease.slot().address(), "10.0.0.1:80");
  EXPECT_TRUE(waker_.calls.empty());
}

}  // namespace
}  // namespace zs::activator
