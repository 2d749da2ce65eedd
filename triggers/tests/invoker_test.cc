// CurlInvoker against a real HTTP server on loopback (fn-echo, in process):
// the request arrives as built, the status comes back, and Cancel() ends a
// slow request at once (concurrencyPolicy Replace relies on it).
#include "triggers/invoker.h"

#include <condition_variable>
#include <mutex>
#include <optional>

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "hack/fn-echo/server.h"

namespace zs::triggers {
namespace {

class Waiter {
 public:
  Invoker::Done Done() {
    return [this](const InvocationResult& r) {
      std::lock_guard lock(mu_);
      result_ = r;
      cv_.notify_all();
    };
  }
  std::optional<InvocationResult> Wait(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return result_.has_value(); });
    return result_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<InvocationResult> result_;
};

class InvokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fnecho::Options options;
    options.address = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<fnecho::Server>(options);
    ASSERT_TRUE(server_->Start().ok());
  }
  std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::unique_ptr<fnecho::Server> server_;
};

TEST_F(InvokerTest, SendsTheRequestAndReturnsTheStatus) {
  CurlInvoker invoker;
  Waiter waiter;
  Invocation inv{Url("/backup?status=201"),
                 "POST",
                 {{"X-Zeroscale-Trigger", "nightly"}},
                 "payload",
                 std::chrono::seconds(5)};
  invoker.Start(inv, waiter.Done());
  std::optional<InvocationResult> r = waiter.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201) << r->error;
  EXPECT_FALSE(r->cancelled);
}

TEST_F(InvokerTest, ReportsTransportErrorsWithoutAStatus) {
  CurlInvoker invoker;
  Waiter waiter;
  invoker.Start({"http://127.0.0.1:1/", "POST", {}, "", std::chrono::seconds(5)}, waiter.Done());
  std::optional<InvocationResult> r = waiter.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 0);
  EXPECT_FALSE(r->error.empty());
}

TEST_F(InvokerTest, CancelEndsASlowRequestAtOnce) {
  CurlInvoker invoker;
  Waiter waiter;
  auto handle =
      invoker.Start({Url("/slow?delay_ms=30000"), "POST", {}, "", std::chrono::seconds(60)}, waiter.Done());
  EXPECT_FALSE(waiter.Wait(std::chrono::seconds(0)).has_value());
  const auto start = RealClock::Get().Now();
  handle->Cancel();
  std::optional<InvocationResult> r = waiter.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->cancelled);
  EXPECT_LT(RealClock::Get().Now() - start, std::chrono::seconds(5));
}

TEST_F(InvokerTest, TimeoutEndsTheRequest) {
  CurlInvoker invoker;
  Waiter waiter;
  // (fn-echo finishes the 2 s wait before the test can stop it.)
  invoker.Start({Url("/slow?delay_ms=2000"), "GET", {}, "", std::chrono::milliseconds(300)}, waiter.Done());
  const MonotonicTime start = RealClock::Get().Now();
  std::optional<InvocationResult> r = waiter.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 0);
  EXPECT_FALSE(r->cancelled);
  EXPECT_LT(RealClock::Get().Now() - start, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace zs::triggers
