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
  void CompleteAll(const absl::Status& status) {
    auto todo = std::move(pending);
    pending.clear();
    for (auto& done : todo) done(status);
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
    o.max_total = 5;
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
  EXPECT_EQ(events_.cold_starts["ns/f"], 1);
  EXPECT_EQ(events_.queued["ns/f"], 3);
  EXPECT_EQ(buffer_.queued(c->key), 3);
  waker_.CompleteAll(absl::OkStatus());

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

TEST_F(BufferTest, TotalBoundSpansFunctions) {
  auto f = Config("f");
  auto g = Config("g");
  EXPECT_FALSE(Acquire(f, 1).has_value());
  EXPECT_FALSE(Acquire(f, 2).has_value());
  EXPECT_FALSE(Acquire(f, 3).has_value());
  EXPECT_FALSE(Acquire(g, 4).has_value());
  EXPECT_FALSE(Acquire(g, 5).has_value());
  auto rejected = Acquire(g, 6);  // max_total = 5
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->error, ProxyError::kQueueFull);
  EXPECT_EQ(buffer_.total_queued(), 5);
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
  EXPECT_FALSE(Acquire(c, 2).has_value());
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 1u);  // within the backoff
  clock_.Advance(1s);
  buffer_.Tick();
  EXPECT_EQ(waker_.calls.size(), 2u);
  EXPECT_EQ(events_.cold_starts["ns/f"], 1);
  waker_.CompleteAll(absl::OkStatus());
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
  EXPECT_EQ(events_.cold_starts["ns/f"], 2);
  // No held request while it had endpoints: losing them wakes nothing by itself.
  waker_.CompleteAll(absl::OkStatus());
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
  EXPECT_EQ(events_.cold_starts["ns/f"], 1);
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

}  // namespace
}  // namespace zs::activator
