// A burst of 1,000 concurrent requests to a Function at zero whose endpoint
// appears after a delay: nothing is lost, every answer is a 200 or a counted
// 503/504, and the counters add up.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "activator/tests/proxy_fixture.h"

namespace zs::activator::testing {
namespace {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

class ProxyBurstTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyOptions options = DefaultOptions();
    options.header_read_timeout = 20s;
    StartProxy(options);
  }
};

// One client request on its own connection; records the status (0: no answer).
asio::awaitable<void> OneRequest(uint16_t port, std::string target, std::mutex& mu,
                                 std::map<int, int>& statuses) {
  auto executor = co_await asio::this_coro::executor;
  beast::tcp_stream stream(executor);
  boost::system::error_code ec;
  stream.expires_after(30s);
  co_await stream.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                asio::redirect_error(asio::use_awaitable, ec));
  int status = 0;
  if (!ec) {
    bhttp::request<bhttp::empty_body> req(bhttp::verb::get, target, 11);
    req.set(bhttp::field::host, "activator");
    req.keep_alive(false);
    co_await bhttp::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      beast::flat_buffer buffer;
      bhttp::response<bhttp::string_body> res;
      co_await bhttp::async_read(stream, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) status = static_cast<int>(res.result_int());
    }
  }
  std::lock_guard lock(mu);
  ++statuses[status];
}

TEST_F(ProxyBurstTest, ThousandConcurrentRequestsToAColdFunctionLoseNothing) {
  constexpr int kRequests = 1000;
  constexpr int kBuffered = 800;
  AddFunction("burst", {}, [&](FunctionConfig& c) {
    c.buffer_max_requests = kBuffered;
    c.buffer_timeout = 20s;
  });

  std::mutex mu;
  std::map<int, int> statuses;
  asio::io_context io;
  for (int i = 0; i < kRequests; ++i) {
    asio::co_spawn(io, OneRequest(port(), "/fn/ns/burst/r" + std::to_string(i), mu, statuses),
                   asio::detached);
  }
  std::thread clients([&] { io.run(); });

  // The function is at zero: requests are held up to its bound, the rest are
  // turned away at once, and exactly one wake-up went out.
  const auto rejected = [&] {
    return Metric("zeroscale_rejected_requests_total", {{"function", "burst"}, {"reason", "queue_full"}});
  };
  ASSERT_TRUE(Eventually(
      [&] {
        return buffer_.queued({"ns", "burst"}) == kBuffered && rejected() == 200;
      },
      30s))
      << "queued " << buffer_.queued({"ns", "burst"}) << " rejected " << rejected();
  EXPECT_TRUE(Eventually([&] { return waker_.calls.load() >= 1; }));
  EXPECT_EQ(waker_.calls.load(), 1);
  EXPECT_EQ(Metric("zeroscale_requests_queued", {{"function", "burst"}}), kBuffered);

  // The replica becomes ready.
  SetEndpoints("burst", {upstream_.address()});
  clients.join();

  int total = 0;
  for (const auto& [status, count] : statuses) {
    total += count;
    EXPECT_TRUE(status == 200 || status == 503 || status == 504) << status << " x" << count;
  }
  EXPECT_EQ(total, kRequests);
  EXPECT_EQ(statuses[200], kBuffered);
  EXPECT_EQ(statuses[503], kRequests - kBuffered);

  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == static_cast<size_t>(kRequests); }));
  const double ok = Metric("zeroscale_invocations_total", {{"function", "burst"}, {"code", "200"}});
  const double full = Metric("zeroscale_invocations_total", {{"function", "burst"}, {"code", "503"}});
  const double timed_out = Metric("zeroscale_invocations_total", {{"function", "burst"}, {"code", "504"}});
  EXPECT_EQ(ok, statuses[200]);
  EXPECT_EQ(full, statuses[503]);
  EXPECT_EQ(timed_out, statuses[504]);
  EXPECT_EQ(ok + full + timed_out, kRequests);
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "burst"}, {"reason", "queue_full"}}),
            statuses[503]);
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "burst"}, {"reason", "queue_timeout"}}),
            statuses[504]);
  EXPECT_EQ(Metric("zeroscale_cold_start_wait_seconds", {{"function", "burst"}}), kBuffered);
  EXPECT_EQ(Metric("zeroscale_cold_starts_total", {{"function", "burst"}}), 1);
  EXPECT_EQ(Metric("zeroscale_requests_queued", {{"function", "burst"}}), 0);
  EXPECT_EQ(Metric("zeroscale_requests_in_flight", {{"function", "burst"}}), 0);
  EXPECT_EQ(upstream_.requests(), kBuffered);
}

TEST_F(ProxyBurstTest, EndpointTooLateTimesOutEveryHeldRequestAndCountsIt) {
  constexpr int kRequests = 200;
  AddFunction("late", {}, [&](FunctionConfig& c) { c.buffer_timeout = 300ms; });
  std::mutex mu;
  std::map<int, int> statuses;
  asio::io_context io;
  for (int i = 0; i < kRequests; ++i) {
    asio::co_spawn(io, OneRequest(port(), "/fn/ns/late/", mu, statuses), asio::detached);
  }
  io.run();
  EXPECT_EQ(statuses[504], kRequests);
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == static_cast<size_t>(kRequests); }));
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "late"}, {"reason", "queue_timeout"}}),
            kRequests);
  EXPECT_EQ(Metric("zeroscale_requests_queued", {{"function", "late"}}), 0);
}

TEST_F(ProxyBurstTest, EndpointReadyToFirstForwardedByte) {
  // docs/invocation.md: held requests go out as soon as a replica is ready. Measures
  // the time from publishing the endpoint to the replica reading the first
  // request head (connect included), for 1 and for 1,000 held requests.
  for (const int held : {1, 1000}) {
    FakeUpstream replica;  // a fresh one, so "first request" is this round's
    const std::string name = "ready" + std::to_string(held);
    AddFunction(name, {}, [&](FunctionConfig& c) {
      c.buffer_max_requests = held;
      c.buffer_timeout = 20s;
    });
    std::mutex mu;
    std::map<int, int> statuses;
    asio::io_context io;
    for (int i = 0; i < held; ++i) {
      asio::co_spawn(io, OneRequest(port(), "/fn/ns/" + name + "/", mu, statuses), asio::detached);
    }
    std::thread clients([&] { io.run(); });
    ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", name}) == held; }, 30s));
    const auto published = std::chrono::steady_clock::now();
    SetEndpoints(name, {replica.address()});
    clients.join();
    EXPECT_EQ(statuses[200], held);
    const auto first = std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(replica.first_request_ns()));
    const double micros = std::chrono::duration<double, std::micro>(first - published).count();
    std::printf("endpoint ready -> first forwarded request head at the replica, %d held: %.0f us\n", held,
                micros);
    RecordProperty("ready_to_first_byte_us_" + std::to_string(held), static_cast<int>(micros));
    EXPECT_LT(micros, 1e6);  // generous: CI machines are loaded
  }
}

}  // namespace
}  // namespace zs::activator::testing
