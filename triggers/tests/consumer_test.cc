// Consumer (the delivery loop) against an in-memory broker and an invoker
// whose answers the test decides. The real brokers are in
// nats_source_test / redis_source_test and broker_trigger_test.
#include "triggers/brokers/consumer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"

namespace zs::triggers {
namespace {

using std::chrono::milliseconds;

// Polls `done` until it holds or 10 s pass.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

// A broker in memory: a queue, redeliveries with their delay, acks, dead
// letters; every verb can be made to fail.
class MemorySource final : public MessageSource {
 public:
  struct Shared {
    std::mutex mu;
    std::vector<Message> queue;  // undelivered
    std::map<std::string, std::pair<Message, std::chrono::steady_clock::time_point>> retries;
    std::set<std::string> held;  // delivered, not settled
    std::vector<std::string> acked;
    std::vector<std::pair<Message, std::string>> dead;
    std::vector<std::pair<std::string, milliseconds>> retry_log;
    absl::Status connect_error = absl::OkStatus();
    absl::Status dead_letter_error = absl::OkStatus();
    int connects = 0;
  };
  explicit MemorySource(std::shared_ptr<Shared> shared) : s_(std::move(shared)) {}

  absl::Status Connect() override {
    std::lock_guard lock(s_->mu);
    ++s_->connects;
    return s_->connect_error;
  }
  absl::StatusOr<std::vector<Message>> Fetch(int max, milliseconds wait) override {
    const auto until = std::chrono::steady_clock::now() + wait;
    while (true) {
      {
        std::lock_guard lock(s_->mu);
        if (!s_->connect_error.ok()) return s_->connect_error;
        std::vector<Message> out;
        const auto now = std::chrono::steady_clock::now();
        for (auto it = s_->retries.begin(); it != s_->retries.end() && static_cast<int>(out.size()) < max;) {
          if (it->second.second <= now) {
            Message m = it->second.first;
            ++m.attempt;
            s_->held.insert(m.id);
            out.push_back(m);
            it = s_->retries.erase(it);
          } else {
            ++it;
          }
        }
        while (!s_->queue.empty() && static_cast<int>(out.size()) < max) {
          s_->held.insert(s_->queue.front().id);
          out.push_back(s_->queue.front());
          s_->queue.erase(s_->queue.begin());
        }
        if (!out.empty() || std::chrono::steady_clock::now() >= until) return out;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  }
  absl::Status Ack(const Message& m) override {
    std::lock_guard lock(s_->mu);
    s_->held.erase(m.id);
    s_->acked.push_back(m.id);
    return absl::OkStatus();
  }
  absl::Status Retry(const Message& m, milliseconds delay) override {
    std::lock_guard lock(s_->mu);
    s_->held.erase(m.id);
    s_->retry_log.emplace_back(m.id, delay);
    s_->retries[m.id] = {m, std::chrono::steady_clock::now() + delay};
    return absl::OkStatus();
  }
  absl::Status DeadLetter(const Message& m, const std::string& error, const std::string& trigger) override {
    std::lock_guard lock(s_->mu);
    if (!s_->dead_letter_error.ok()) return s_->dead_letter_error;
    s_->held.erase(m.id);
    s_->dead.emplace_back(m, error + " | " + trigger);
    s_->acked.push_back(m.id);
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> Lag() override {
    std::lock_guard lock(s_->mu);
    if (!s_->connect_error.ok()) return s_->connect_error;
    return static_cast<int64_t>(s_->queue.size() + s_->retries.size() + s_->held.size());
  }

 private:
  std::shared_ptr<Shared> s_;
};

// Answers each invocation on a thread of its own with the status `answer`
// gives for (message id, attempt); holds them while `hold` is set.
class ScriptedInvoker final : public Invoker {
 public:
  std::function<int(const std::string& id, int attempt)> answer = [](const std::string&, int) { return 200; };

  std::shared_ptr<InvocationHandle> Start(Invocation inv, Done done) override {
    auto handle = std::make_shared<Handle>(this);
    std::string id, attempt;
    for (const auto& [name, value] : inv.headers) {
      if (name == "X-Zeroscale-Message-Id") id = value;
      if (name == "X-Zeroscale-Attempt") attempt = value;
    }
    {
      std::lock_guard lock(mu_);
      calls.push_back(inv);
      ++in_flight;
      max_in_flight = std::max(max_in_flight, in_flight);
    }
    threads_.emplace_back([this, handle, id, attempt, done = std::move(done)] {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !hold || handle->cancelled; });
      }
      InvocationResult r;
      bool cancelled = false;
      {
        std::lock_guard lock(mu_);
        cancelled = handle->cancelled;
      }
      if (cancelled) {
        r.cancelled = true;
        r.error = "cancelled";
      } else {
        r.status = answer(id, std::stoi(attempt));
      }
      {
        std::lock_guard lock(mu_);
        --in_flight;
      }
      done(r);
    });
    return handle;
  }
  void Hold(bool h) {
    {
      std::lock_guard lock(mu_);
      hold = h;
    }
    cv_.notify_all();
  }
  int InFlight() {
    std::lock_guard lock(mu_);
    return in_flight;
  }
  std::vector<Invocation> Calls() {
    std::lock_guard lock(mu_);
    return calls;
  }
  ~ScriptedInvoker() override {
    Hold(false);
    for (auto& t : threads_) t.join();
  }

  int max_in_flight = 0;

 private:
  struct Handle final : InvocationHandle {
    explicit Handle(ScriptedInvoker* o) : owner(o) {}
    void Cancel() override {
      {
        std::lock_guard lock(owner->mu_);
        cancelled = true;
      }
      owner->cv_.notify_all();
    }
    ScriptedInvoker* owner;
    bool cancelled = false;  // under owner->mu_
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Invocation> calls;
  bool hold = false;
  int in_flight = 0;
  std::vector<std::thread> threads_;
};

Message Msg(const std::string& id, std::string body = "payload") {
  Message m;
  m.id = id;
  m.subject = "orders.eu";
  m.body = std::move(body);
  return m;
}

class ConsumerTest : public ::testing::Test {
 protected:
  ConsumerTest() {
    settings_.id = {"shop", "vend", "orders"};
    settings_.url = "http://activator/fn/shop/vend/order";
    settings_.headers = {{"Content-Type", "text/plain"}, {"X-Tenant", "acme"}};
    settings_.delivery.max_in_flight = 3;
    settings_.delivery.max_attempts = 3;
    settings_.delivery.backoff_seconds = 0;
    settings_.fetch_wait = milliseconds(20);
    settings_.settle_every = milliseconds(5);
    settings_.reconnect_initial = milliseconds(10);
    settings_.reconnect_max = milliseconds(20);
    settings_.lag_every = milliseconds(10);
    settings_.drain = milliseconds(2000);
  }
  void StartConsumer() {
    consumer_ = std::make_unique<Consumer>(std::make_unique<MemorySource>(broker_), invoker_,
                                           RealClock::Get(), metrics_, settings_);
    thread_ = std::jthread([this](const std::stop_token& stop) { consumer_->Run(stop); });
  }
  void StopConsumer() {
    thread_.request_stop();
    thread_.join();
  }
  ~ConsumerTest() override {
    if (thread_.joinable()) StopConsumer();
  }
  void Publish(int n) {
    std::lock_guard lock(broker_->mu);
    for (int i = 0; i < n; ++i) broker_->queue.push_back(Msg(std::to_string(1000 + published_++)));
  }
  size_t Acked() {
    std::lock_guard lock(broker_->mu);
    return broker_->acked.size();
  }

  std::shared_ptr<MemorySource::Shared> broker_ = std::make_shared<MemorySource::Shared>();
  int published_ = 0;
  ScriptedInvoker invoker_;
  TriggerMetrics metrics_;
  ConsumerSettings settings_;
  std::unique_ptr<Consumer> consumer_;
  std::jthread thread_;
};

TEST(ConsumerBackoff, DoublesFromBackoffSecondsUpToTheCap) {
  api::DeliverySpec d;
  d.backoff_seconds = 1;
  d.max_backoff_seconds = 5;
  EXPECT_EQ(Consumer::Backoff(d, 1), milliseconds(1000));
  EXPECT_EQ(Consumer::Backoff(d, 2), milliseconds(2000));
  EXPECT_EQ(Consumer::Backoff(d, 3), milliseconds(4000));
  EXPECT_EQ(Consumer::Backoff(d, 4), milliseconds(5000));
  EXPECT_EQ(Consumer::Backoff(d, 60), milliseconds(5000));
  d.backoff_seconds = 0;
  EXPECT_EQ(Consumer::Backoff(d, 7), milliseconds(0));
}

TEST(ConsumerRequest, CarriesTheMessageAndWhereItCameFrom) {
  ConsumerSettings s;
  s.id = {"shop", "vend", "orders"};
  s.url = "http://a/fn/shop/vend/order";
  s.headers = {{"Content-Type", "text/plain"}, {"X-Tenant", "acme"}};
  s.subject_header = "X-Zeroscale-Stream";
  Message m = Msg("1700000000000-0", R"({"sku":"cola"})");
  m.subject = "orders";
  m.attempt = 2;
  m.content_type = "application/json";
  m.headers = {{"Nats-Msg-Id", "abc"}, {"X-Zeroscale-Trigger", "forged"},
               {"Host", "evil"},       {"X-Request-Id", "forged"},
               {"Bad Name", "x"},      {"X-Multi", "line\r\nInjected: 1"}};
  const Invocation inv = Consumer::BuildInvocation(s, m);
  EXPECT_EQ(inv.url, "http://a/fn/shop/vend/order");
  EXPECT_EQ(inv.method, "POST");
  EXPECT_EQ(inv.body, R"({"sku":"cola"})");
  using P = std::pair<std::string, std::string>;
  EXPECT_THAT(inv.headers,
              ::testing::ElementsAre(P{"Nats-Msg-Id", "abc"}, P{"Content-Type", "application/json"},
                                     P{"X-Tenant", "acme"}, P{"X-Zeroscale-Trigger", "orders"},
                                     P{"X-Zeroscale-Message-Id", "1700000000000-0"},
                                     P{"X-Zeroscale-Stream", "orders"}, P{"X-Zeroscale-Attempt", "2"},
                                     P{"X-Request-Id", "trigger-shop-vend-orders-1700000000000-0"}));
}

TEST_F(ConsumerTest, AcknowledgesEachMessageAfterItsTwoHundred) {
  Publish(20);
  StartConsumer();
  ASSERT_TRUE(Eventually([&] { return Acked() == 20; }));
  const ConsumerState state = consumer_->State();
  EXPECT_TRUE(state.connected);
  EXPECT_EQ(state.fired, 20);
  EXPECT_EQ(state.succeeded, 20);
  EXPECT_EQ(state.failed, 0);
  EXPECT_TRUE(state.last_success.has_value());
  ASSERT_TRUE(Eventually([&] { return consumer_->State().lag == 0; }));
  std::set<std::string> ids;
  for (const Invocation& inv : invoker_.Calls()) {
    for (const auto& [n, v] : inv.headers)
      if (n == "X-Zeroscale-Message-Id") ids.insert(v);
  }
  EXPECT_EQ(ids.size(), 20u) << "each message sent once";
}

TEST_F(ConsumerTest, NeverHasMoreThanMaxInFlight) {
  invoker_.Hold(true);
  Publish(10);
  StartConsumer();
  ASSERT_TRUE(Eventually([&] { return invoker_.InFlight() == 3; }));
  // It keeps polling: still three, and the broker holds the other seven.
  ASSERT_TRUE(Eventually([&] { return consumer_->State().lag == 10; }));
  EXPECT_EQ(invoker_.InFlight(), 3);
  EXPECT_EQ(Acked(), 0u) << "nothing acknowledged before its answer";
  invoker_.Hold(false);
  ASSERT_TRUE(Eventually([&] { return Acked() == 10; }));
  EXPECT_EQ(invoker_.max_in_flight, 3);
}

TEST_F(ConsumerTest, RetriesWithBackoffThenDeadLetters) {
  settings_.delivery.backoff_seconds = 0;
  // "1000" succeeds at once; "1001" once retried; "1002" never.
  invoker_.answer = [](const std::string& id, int attempt) {
    if (id == "1000") return 200;
    if (id == "1001") return attempt >= 2 ? 200 : 503;
    return 500;
  };
  Publish(3);
  StartConsumer();
  ASSERT_TRUE(Eventually([&] { return Acked() == 3; }));
  std::lock_guard lock(broker_->mu);
  ASSERT_EQ(broker_->dead.size(), 1u);
  EXPECT_EQ(broker_->dead[0].first.id, "1002");
  EXPECT_EQ(broker_->dead[0].first.attempt, 3);
  EXPECT_EQ(broker_->dead[0].second, "HTTP 500 | shop/vend/orders");
  // 1001 retried once, 1002 twice (attempts 1 and 2), then dead-lettered.
  EXPECT_EQ(broker_->retry_log.size(), 3u);
  const ConsumerState state = consumer_->State();
  EXPECT_EQ(state.fired, 6);
  EXPECT_EQ(state.succeeded, 2);
  EXPECT_EQ(state.failed, 4);
  EXPECT_EQ(state.dead_lettered, 1);
}

TEST_F(ConsumerTest, ADeadLetterThatFailsLeavesTheMessageUnacknowledged) {
  invoker_.answer = [](const std::string&, int) { return 500; };
  settings_.delivery.max_attempts = 1;
  {
    std::lock_guard lock(broker_->mu);
    broker_->dead_letter_error = absl::UnavailableError("nats: no responders for dead.orders");
  }
  Publish(1);
  StartConsumer();
  ASSERT_TRUE(Eventually([&] { return !consumer_->State().connected && consumer_->State().fired >= 1; }));
  EXPECT_EQ(consumer_->State().reason, "DeadLetterFailed");
  EXPECT_EQ(consumer_->State().message, "nats: no responders for dead.orders");
  std::lock_guard lock(broker_->mu);
  EXPECT_TRUE(broker_->acked.empty());
  EXPECT_TRUE(broker_->held.contains("1000")) << "still the broker's, to be redelivered";
}

TEST_F(ConsumerTest, ReportsABrokerThatIsDownAndRecovers) {
  {
    std::lock_guard lock(broker_->mu);
    broker_->connect_error = absl::UnavailableError("redis 127.0.0.1:1: connection refused");
  }
  Publish(2);
  StartConsumer();
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(broker_->mu);
    return broker_->connects >= 3;  // retried with backoff, not given up
  }));
  ConsumerState state = consumer_->State();
  EXPECT_FALSE(state.connected);
  EXPECT_EQ(state.reason, "BrokerUnavailable");
  EXPECT_EQ(state.message, "redis 127.0.0.1:1: connection refused");
  {
    std::lock_guard lock(broker_->mu);
    broker_->connect_error = absl::OkStatus();
  }
  ASSERT_TRUE(Eventually([&] { return Acked() == 2; }));
  EXPECT_TRUE(consumer_->State().connected);
}

TEST_F(ConsumerTest, StopDrainsInFlightAndLeavesTheRestToTheBroker) {
  invoker_.Hold(true);
  Publish(3);
  StartConsumer();
  ASSERT_TRUE(Eventually([&] { return invoker_.InFlight() == 3; }));
  // Answers arrive during the drain: acknowledged.
  std::thread release([&] {
    Eventually([&] { return thread_.get_stop_token().stop_requested(); });
    invoker_.Hold(false);
  });
  StopConsumer();
  release.join();
  EXPECT_EQ(Acked(), 3u);
}

TEST_F(ConsumerTest, StopCancelsWhatOutlivesTheDrain) {
  settings_.drain = milliseconds(50);
  invoker_.Hold(true);
  Publish(2);
  StartConsumer();
  ASSERT_TRUE(Eventually([&] { return invoker_.InFlight() == 2; }));
  StopConsumer();
  EXPECT_EQ(Acked(), 0u);
  std::lock_guard lock(broker_->mu);
  EXPECT_EQ(broker_->held.size(), 2u) << "unsettled: redelivered by the broker";
  EXPECT_TRUE(broker_->retry_log.empty());
}

}  // namespace
}  // namespace zs::triggers
