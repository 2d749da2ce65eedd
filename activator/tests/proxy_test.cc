// Socket tests of the data path against fake replicas on loopback.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "activator/tests/proxy_fixture.h"

namespace zs::activator::testing {
namespace {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

class ProxySocketTest : public ProxyTest {
 protected:
  void SetUp() override { StartProxy(DefaultOptions()); }
};

TEST_F(ProxySocketTest, ForwardsRewritesAndMeters) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  Reply r = client.Post("/fn/ns/echo/echo/a?x=1", "hello");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.Header("X-Seen-Target"), "/echo/a?x=1");
  EXPECT_EQ(r.Header("X-Seen-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(r.Header("X-Seen-Forwarded-Proto"), "http");
  EXPECT_EQ(r.Header("X-Seen-Forwarded-Host"), "activator");
  EXPECT_FALSE(r.Header("X-Request-Id").empty());
  EXPECT_EQ(r.Header("X-Request-Id"), r.Header("X-Seen-Request-Id"));

  // Metering happens after the last byte went out.
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 1; }));
  EXPECT_EQ(
      Metric("zeroscale_invocations_total", {{"namespace", "ns"}, {"function", "echo"}, {"code", "200"}}), 1);
  EXPECT_EQ(Metric("zeroscale_invocation_duration_seconds", {{"function", "echo"}}), 1);
  EXPECT_GT(Metric("zeroscale_billable_gb_seconds_total", {{"function", "echo"}}), 0);
  EXPECT_EQ(Metric("zeroscale_requests_in_flight", {{"function", "echo"}}), 0);
  auto records = billing_.Snapshot();
  ASSERT_EQ(records.size(), 1u);
  const InvocationRecord& rec = records[0];
  EXPECT_EQ(rec.ns, "ns");
  EXPECT_EQ(rec.function, "echo");
  EXPECT_EQ(rec.method, "POST");
  EXPECT_EQ(rec.path, "/echo/a");
  EXPECT_EQ(rec.code, 200);
  EXPECT_EQ(rec.bytes_in, 5u);
  EXPECT_EQ(rec.bytes_out, 5u);
  EXPECT_GE(rec.billed_ms, 1);
  EXPECT_DOUBLE_EQ(rec.memory_mb, 256);
  EXPECT_FALSE(rec.cold_start);
  EXPECT_EQ(rec.request_id, r.Header("X-Request-Id"));
  EXPECT_EQ(rec.pod, "echo-pod-" + std::to_string(upstream_.port()));
}

TEST_F(ProxySocketTest, KeepsTheClientsRequestId) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/fn/ns/echo/", 11);
  req.set(bhttp::field::host, "activator");
  req.set("X-Request-Id", "client-chosen-1");
  Reply r = client.Send(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Request-Id"), "client-chosen-1");
  EXPECT_EQ(r.Header("X-Seen-Request-Id"), "client-chosen-1");
}

// The triggers component names the trigger in X-Zeroscale-Trigger; the
// billing line carries it when it is one of the Function's own triggers,
// and the header still reaches the function.
TEST_F(ProxySocketTest, BillingLineNamesTheFunctionsTriggerOnly) {
  AddFunction("echo", {upstream_.address()}, [](FunctionConfig& c) { c.triggers = {"nightly", "orders"}; });
  const auto send = [&](const std::vector<std::string>& marks) {
    Client client(port());
    bhttp::request<bhttp::string_body> req(bhttp::verb::post, "/fn/ns/echo/", 11);
    req.set(bhttp::field::host, "activator");
    for (const std::string& mark : marks) req.insert("X-Zeroscale-Trigger", mark);
    req.prepare_payload();
    return client.Send(req).status;
  };
  EXPECT_EQ(send({"nightly"}), 200);
  EXPECT_EQ(send({"forged"}), 200);
  EXPECT_EQ(send({}), 200);
  EXPECT_EQ(send({"orders", "nightly"}), 200);
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 4; }));
  std::vector<std::string> marks;
  for (const InvocationRecord& record : billing_.Snapshot()) marks.push_back(record.trigger);
  EXPECT_EQ(marks, (std::vector<std::string>{"nightly", "", "", ""}))
      << "only one mark naming a trigger counts";
}

TEST_F(ProxySocketTest, RoutesByHost) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  Reply r = client.Get("/some/path?q=2", "echo.ns.fn.zeroscale.internal:8000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Seen-Target"), "/some/path?q=2");
}

TEST_F(ProxySocketTest, UnknownFunctionIs404JsonAndKeepsTheConnection) {
  Client client(port());
  Reply r = client.Get("/fn/ns/nope/x");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["function"], "ns/nope");
  EXPECT_EQ(body["error"], "function not found");
  r = client.Get("/elsewhere");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(nlohmann::json::parse(r.body)["function"], "");
  EXPECT_EQ(upstream_.connections(), 0);  // no open proxy: nothing was dialled
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"namespace", ""}, {"code", "404"}}), 2);
}

TEST_F(ProxySocketTest, KeepAliveReusesOneUpstreamConnection) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  for (int i = 0; i < 20; ++i) {
    Reply r = client.Post("/fn/ns/echo/echo", "n" + std::to_string(i));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "n" + std::to_string(i));
  }
  EXPECT_EQ(upstream_.requests(), 20);
  EXPECT_EQ(upstream_.connections(), 1);
  EXPECT_EQ(proxy_->open_connections(), 1);
}

TEST_F(ProxySocketTest, ChunkedBothWays) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  bhttp::request<bhttp::string_body> req(bhttp::verb::post, "/fn/ns/echo/chunked-echo", 11);
  req.set(bhttp::field::host, "activator");
  req.chunked(true);
  std::string payload;
  for (int i = 0; i < 5000; ++i) payload += std::to_string(i) + ",";
  req.body() = payload;
  Reply r = client.Send(req);
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r.body, payload);
  // The connection is still usable after a chunked exchange.
  r = client.Get("/fn/ns/echo/x");
  EXPECT_EQ(r.status, 200);
}

TEST_F(ProxySocketTest, Http10ClientGetsChunkedResponseCloseDelimited) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw("POST /fn/ns/echo/chunked-echo HTTP/1.0\r\nContent-Length: 6\r\n\r\nabcdef", ec);
  ASSERT_FALSE(ec);
  std::string got;
  EXPECT_TRUE(client.ReadUntilClosed(&got));
  EXPECT_EQ(got.rfind("HTTP/1.0 200", 0), 0u) << got;
  EXPECT_EQ(got.find("\r\nTransfer-Encoding"), std::string::npos) << got;
  EXPECT_EQ(got.substr(got.size() - 6), "abcdef");
}

TEST_F(ProxySocketTest, ExpectContinueIsAnsweredByTheActivator) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw(
      "POST /fn/ns/echo/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", ec);
  ASSERT_FALSE(ec);
  char interim[64];
  client.stream().expires_after(10s);
  const size_t n = client.stream().read_some(asio::buffer(interim, 25), ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(std::string(interim, n), "HTTP/1.1 100 Continue\r\n\r\n");
  client.WriteRaw("abc", ec);
  Reply r = client.ReadReply();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "abc");
  EXPECT_EQ(r.Header("X-Seen-Expect"), "");  // not passed on
}

TEST_F(ProxySocketTest, HeadRequestGetsNoBody) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw("HEAD /fn/ns/echo/x HTTP/1.1\r\nHost: a\r\n\r\n", ec);
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.skip(true);
  beast::flat_buffer buffer;
  bhttp::read(client.stream(), buffer, parser, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(parser.get().result_int(), 200u);
  // Still in sync for the next request.
  Reply r = client.Get("/fn/ns/echo/x");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
}

TEST_F(ProxySocketTest, PipelinedRequestsAreAnsweredInOrder) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw(
      "POST /fn/ns/echo/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nA"
      "POST /fn/ns/echo/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nB",
      ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(client.ReadReply().body, "A");
  EXPECT_EQ(client.ReadReply().body, "B");
}

TEST_F(ProxySocketTest, UpstreamStatusIsPassedThroughAndCounted) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  Reply r = client.Get("/fn/ns/echo/status?code=503");
  EXPECT_EQ(r.status, 503);
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 1; }));
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "echo"}, {"code", "503"}}), 1);
  // The replica's own 503 is not one of the activator's rejections.
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "echo"}}), 0);
}

long RssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

TEST_F(ProxySocketTest, LargeBodiesAreStreamedNotBuffered) {
  ProxyOptions options = DefaultOptions();
  options.limits.max_body_bytes = 1ULL << 30;
  proxy_.reset();
  StartProxy(options);
  AddFunction("echo", {upstream_.address()});
  const uint64_t total = 64ULL << 20;
  const std::string piece(1 << 20, 'z');
  const long rss_before = RssKiB();

  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw(
      "POST /fn/ns/echo/count HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n",
      ec);
  ASSERT_FALSE(ec);
  client.WriteRaw(piece, ec);
  ASSERT_FALSE(ec);
  // The replica sees the first MiB while 63 MiB are still unsent: the body is
  // relayed as it arrives, not collected first.
  ASSERT_TRUE(Eventually([&] { return upstream_.counted_bytes() >= piece.size(); }));
  for (uint64_t sent = piece.size(); sent < total; sent += piece.size()) {
    client.WriteRaw(piece, ec);
    ASSERT_FALSE(ec);
  }
  Reply r = client.ReadReply();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::to_string(total));

  // And 64 MiB back, read in pieces by the client.
  bhttp::request<bhttp::string_body> req(bhttp::verb::get,
                                         "/fn/ns/echo/stream?bytes=" + std::to_string(total), 11);
  req.set(bhttp::field::host, "a");
  req.prepare_payload();
  bhttp::write(client.stream(), req, ec);
  ASSERT_FALSE(ec);
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(std::numeric_limits<uint64_t>::max());
  beast::flat_buffer buffer;
  bhttp::read_header(client.stream(), buffer, parser, ec);
  ASSERT_FALSE(ec);
  uint64_t received = 0;
  char chunk[65536];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    bhttp::read_some(client.stream(), buffer, parser, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    ASSERT_FALSE(ec) << ec.message();
    received += sizeof(chunk) - parser.get().body().size;
  }
  EXPECT_EQ(received, total);
  // 128 MiB went through this process (client, activator and replica alike);
  // streaming keeps the resident set far below that.
  const long growth_mib = (RssKiB() - rss_before) / 1024;
  EXPECT_LT(growth_mib, 24) << "RSS grew by " << growth_mib << " MiB";
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 2; }));
  auto records = billing_.Snapshot();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].bytes_in, total);
  EXPECT_EQ(records[1].bytes_out, total);
}

TEST_F(ProxySocketTest, SlowUpstreamHitsTheExecutionTimeout) {
  AddFunction("slow", {upstream_.address()}, [](FunctionConfig& c) { c.timeout = 300ms; });
  Client client(port());
  Reply r = client.Get("/fn/ns/slow/hang");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(nlohmann::json::parse(r.body)["function"], "ns/slow");
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "invocation exceeded timeoutSeconds");
  // The replica connection was closed, not pooled.
  EXPECT_TRUE(Eventually([&] { return upstream_.hangs_closed_by_peer() == 1; }));
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "slow"}, {"reason", "exec_timeout"}}),
            1);
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "slow"}, {"code", "504"}}), 1);
  auto records = billing_.Snapshot();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_GE(records[0].billed_ms, 300);
  // The client connection survives (the request had no body).
  r = client.Get("/fn/ns/slow/x");
  EXPECT_EQ(r.status, 200);
}

TEST_F(ProxySocketTest, ResetByUpstreamIs502) {
  AddFunction("bad", {upstream_.address()});
  Client client(port());
  Reply r = client.Get("/fn/ns/bad/reset");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "function replica failed");
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "bad"}, {"reason", "upstream_error"}}),
            1);
}

TEST_F(ProxySocketTest, UpstreamClosingMidBodyClosesTheClient) {
  AddFunction("bad", {upstream_.address()});
  Client client(port());
  Reply r = client.Get("/fn/ns/bad/close-mid-body");
  EXPECT_EQ(r.status, 200);  // the head had been relayed already
  EXPECT_TRUE(r.ec);         // then the body broke off
  EXPECT_TRUE(Eventually([&] {
    return Metric("zeroscale_rejected_requests_total", {{"function", "bad"}, {"reason", "upstream_error"}}) ==
           1;
  }));
}

TEST_F(ProxySocketTest, RefusedConnectIsRetriedOnAnotherEndpoint) {
  // A port nothing listens on: bind, read the port, close.
  uint16_t dead_port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor probe(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = probe.local_endpoint().port();
  }
  AddFunction("echo", {"127.0.0.1:" + std::to_string(dead_port), upstream_.address()});
  for (int i = 0; i < 10; ++i) {
    Client client(port());
    Reply r = client.Get("/fn/ns/echo/x");
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_EQ(upstream_.requests(), 10);
  EXPECT_GE(Metric("zeroscale_activator_connect_retries_total", {}), 1);
}

TEST_F(ProxySocketTest, RefusingOnlyEndpointIsRetriedUntilItListens) {
  // The 0->1 race: the endpoint is ready before its server accepts.
  uint16_t late_port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor probe(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    late_port = probe.local_endpoint().port();
  }
  AddFunction("late", {"127.0.0.1:" + std::to_string(late_port)});
  auto reply = std::async(std::launch::async, [&] { return Client(port()).Get("/fn/ns/late/x"); });
  ASSERT_TRUE(Eventually([&] { return Metric("zeroscale_activator_connect_retries_total", {}) >= 3; }));
  // Now the server comes up on that port.
  asio::io_context io;
  asio::ip::tcp::acceptor late(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), late_port));
  asio::ip::tcp::socket peer(io);
  late.accept(peer);
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> req;
  bhttp::read(peer, buffer, req);
  bhttp::response<bhttp::string_body> res(bhttp::status::ok, 11);
  res.body() = "late but fine";
  res.prepare_payload();
  bhttp::write(peer, res);
  Reply r = reply.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "late but fine");
}

TEST_F(ProxySocketTest, OversizedHeadersAre431) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/fn/ns/echo/", 11);
  req.set("X-Big", std::string(size_t{10} * 1024, 'h'));
  Reply r = client.Send(req);
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(r.Header("Connection"), "close");
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"reason", "bad_request"}}), 1);
  EXPECT_EQ(upstream_.requests(), 0);
}

TEST_F(ProxySocketTest, OversizedBodyIs413UpFront) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw("POST /fn/ns/echo/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", ec);
  Reply r = client.ReadReply();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(upstream_.requests(), 0);
}

TEST_F(ProxySocketTest, OversizedChunkedBodyIs413WhileStreaming) {
  AddFunction("echo", {upstream_.address()});
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw("POST /fn/ns/echo/count HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", ec);
  const std::string chunk(size_t{256} * 1024, 'c');
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk.size());
  for (int i = 0; i < 5 && !ec; ++i) client.WriteRaw(size_line + chunk + "\r\n", ec);
  Reply r = client.ReadReply();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "echo"}, {"reason", "bad_request"}}),
            1);
  EXPECT_LE(upstream_.counted_bytes(), 1024u * 1024u);
}

TEST_F(ProxySocketTest, MalformedRequestIs400Json) {
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw("THIS IS NOT HTTP\r\n\r\n", ec);
  Reply r = client.ReadReply();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "malformed request");
  EXPECT_TRUE(client.ReadUntilClosed());
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"code", "400"}}), 1);
}

TEST_F(ProxySocketTest, SlowlorisIsClosedAndCounted) {
  ProxyOptions options = DefaultOptions();
  options.header_read_timeout = 300ms;
  proxy_.reset();
  StartProxy(options);
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw("GET /fn/ns/echo/ HTTP/1.1\r\n", ec);
  ASSERT_FALSE(ec);
  // Keep trickling header bytes; the head never completes within 300 ms.
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - start < 5s) {
    client.WriteRaw("X", ec);
    closed = static_cast<bool>(ec);
    std::this_thread::sleep_for(20ms);  // the slow client's pace, part of the scenario
  }
  EXPECT_TRUE(closed || client.ReadUntilClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(Eventually([&] {
    return Metric("zeroscale_activator_connections_closed_total", {{"reason", "header_timeout"}}) == 1;
  }));
}

TEST_F(ProxySocketTest, HeldRequestIsForwardedWhenAnEndpointAppears) {
  AddFunction("cold", {});
  auto reply =
      std::async(std::launch::async, [&] { return Client(port()).Post("/fn/ns/cold/echo", "wake up"); });
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "cold"}) == 1; }));
  // Wake is called right after the request is queued, outside the buffer's lock.
  EXPECT_TRUE(Eventually([&] { return waker_.calls.load() == 1; }));
  EXPECT_EQ(Metric("zeroscale_requests_queued", {{"function", "cold"}}), 1);
  SetEndpoints("cold", {upstream_.address()});
  Reply r = reply.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "wake up");
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 1; }));
  EXPECT_EQ(Metric("zeroscale_cold_starts_total", {{"function", "cold"}}), 1);
  EXPECT_EQ(Metric("zeroscale_cold_start_wait_seconds", {{"function", "cold"}}), 1);
  EXPECT_EQ(Metric("zeroscale_requests_queued", {{"function", "cold"}}), 0);
  auto records = billing_.Snapshot();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].cold_start);
  EXPECT_GT(records[0].queued_ms, 0);
}

TEST_F(ProxySocketTest, BufferTimeoutIs504) {
  AddFunction("cold", {}, [](FunctionConfig& c) { c.buffer_timeout = 200ms; });
  Client client(port());
  Reply r = client.Get("/fn/ns/cold/");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "no replica became ready within buffer.timeoutSeconds");
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "cold"}, {"reason", "queue_timeout"}}),
            1);
}

TEST_F(ProxySocketTest, FullBufferIs503WithRetryAfter) {
  AddFunction("cold", {}, [](FunctionConfig& c) { c.buffer_max_requests = 1; });
  auto held = std::async(std::launch::async, [&] { return Client(port()).Get("/fn/ns/cold/"); });
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "cold"}) == 1; }));
  Client client(port());
  Reply r = client.Get("/fn/ns/cold/");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("Retry-After"), "1");
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "cold"}, {"reason", "queue_full"}}), 1);
  SetEndpoints("cold", {upstream_.address()});
  EXPECT_EQ(held.get().status, 200);
}

TEST_F(ProxySocketTest, MaxConcurrencyCapsRequestsPerReplica) {
  AddFunction("capped", {upstream_.address()}, [](FunctionConfig& c) { c.max_concurrency = 2; });
  std::vector<std::future<Reply>> replies;
  replies.reserve(6);
  for (int i = 0; i < 6; ++i) {
    replies.push_back(
        std::async(std::launch::async, [&] { return Client(port()).Get("/fn/ns/capped/gate"); }));
  }
  ASSERT_TRUE(Eventually([&] {
    return upstream_.in_flight() == 2 && buffer_.queued({"ns", "capped"}) == 4;
  }));
  EXPECT_EQ(waker_.calls.load(), 0);  // busy, not cold
  upstream_.Release();
  for (auto& reply : replies) EXPECT_EQ(reply.get().status, 200);
  EXPECT_EQ(upstream_.peak_in_flight(), 2);
}

TEST_F(ProxySocketTest, DrainFinishesInFlightRequestsAndClosesIdleOnes) {
  AddFunction("echo", {upstream_.address()});
  Client idle(port());
  ASSERT_EQ(idle.Get("/fn/ns/echo/").status, 200);
  auto in_flight = std::async(std::launch::async, [&] { return Client(port()).Get("/fn/ns/echo/gate"); });
  // The gate request (the second) is at the replica; the first is done.
  ASSERT_TRUE(Eventually([&] { return upstream_.requests() == 2 && upstream_.in_flight() == 1; }));
  auto drained = std::async(std::launch::async, [&] { proxy_->Shutdown(10s); });
  EXPECT_TRUE(idle.ReadUntilClosed());  // idle keep-alive connection closed at once
  upstream_.Release();
  Reply r = in_flight.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Connection"), "close");
  drained.get();
  EXPECT_EQ(proxy_->open_connections(), 0);
  // No longer accepting.
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port()), ec);
  EXPECT_TRUE(ec);
}

TEST_F(ProxySocketTest, DrainDeadlineAnswersBufferedRequestsWith503) {
  AddFunction("cold", {});
  auto held = std::async(std::launch::async, [&] { return Client(port()).Get("/fn/ns/cold/"); });
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "cold"}) == 1; }));
  proxy_->Shutdown(100ms);
  Reply r = held.get();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "activator is shutting down");
}

}  // namespace
}  // namespace zs::activator::testing
