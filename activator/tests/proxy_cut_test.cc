// Socket tests of what the activator cuts short: exchanges still running at
// the drain deadline, and clients that trickle their request bodies. Each
// cut is answered (or its connection closed), counted with its reason and
// billed.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "activator/tests/proxy_fixture.h"
#include "hack/fn-echo/server.h"

namespace zs::activator::testing {
namespace {

namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

class CutTest : public ProxyTest {
 protected:
  void Start(std::chrono::milliseconds client_body_timeout) {
    ProxyOptions options = DefaultOptions();
    options.forward.client_body_timeout = client_body_timeout;
    StartProxy(options);
  }
  const InvocationRecord* Record(const std::vector<InvocationRecord>& records, const std::string& function) {
    for (const auto& record : records) {
      if (record.function == function) return &record;
    }
    ADD_FAILURE() << "no billing record for " << function;
    return nullptr;
  }
};

TEST_F(CutTest, DrainDeadlineAnswersCountsAndBillsWhatItCuts) {
  Start(10s);
  fnecho::Options echo_options;
  echo_options.address = "127.0.0.1";
  echo_options.port = 0;
  fnecho::Server echo(echo_options);
  ASSERT_TRUE(echo.Start().ok());
  AddFunction("cold", {});                                          // held: never forwarded
  AddFunction("gated", {upstream_.address()});                      // forwarded, no response head yet
  AddFunction("started", {upstream_.address()});                    // response head and 10 bytes sent
  AddFunction("ws", {"127.0.0.1:" + std::to_string(echo.port())});  // an open WebSocket

  auto held = std::async(std::launch::async, [&] { return Client(port()).Get("/fn/ns/cold/"); });
  auto gated = std::async(std::launch::async, [&] { return Client(port()).Get("/fn/ns/gated/gate"); });
  Client started(port());
  boost::system::error_code ec;
  started.WriteRaw("GET /fn/ns/started/hang-mid-body HTTP/1.1\r\nHost: a\r\n\r\n", ec);
  bhttp::response_parser<bhttp::string_body> head;
  beast::flat_buffer started_buffer;
  bhttp::read_header(started.stream(), started_buffer, head, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(head.get().result_int(), 200u);
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws(io);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port()));
  ws.handshake("a", "/fn/ns/ws/", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(Eventually([&] {
    return buffer_.queued({"ns", "cold"}) == 1 && upstream_.hits("/gate") == 1 && echo.in_flight() == 1;
  }));

  const auto stop = std::chrono::steady_clock::now();
  auto drained = std::async(std::launch::async, [&] { proxy_->Shutdown(300ms); });

  Reply held_reply = held.get();
  EXPECT_EQ(held_reply.status, 503);
  EXPECT_EQ(held_reply.Header("Retry-After"), "1");
  EXPECT_EQ(nlohmann::json::parse(held_reply.body)["error"], "activator is shutting down");
  Reply gated_reply = gated.get();
  EXPECT_EQ(gated_reply.status, 504);
  EXPECT_EQ(nlohmann::json::parse(gated_reply.body)["error"],
            "activator shut down before the function answered");
  std::string rest(static_cast<const char*>(started_buffer.data().data()), started_buffer.size());
  EXPECT_TRUE(started.ReadUntilClosed(&rest));
  EXPECT_EQ(rest, "0123456789");  // the body stops short: the client can tell
  beast::flat_buffer ws_buffer;
  ws.read(ws_buffer, ec);
  EXPECT_TRUE(ec);
  drained.get();
  EXPECT_GE(std::chrono::steady_clock::now() - stop, 300ms);
  EXPECT_TRUE(Eventually([&] { return echo.in_flight() == 0; }));  // the replica's side closed too

  for (const std::string name : {"cold", "gated", "started", "ws"}) {
    EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", name}, {"reason", "shutdown"}}), 1)
        << name;
  }
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "cold"}, {"code", "503"}}), 1);
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "gated"}, {"code", "504"}}), 1);
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "started"}, {"code", "200"}}), 1);
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "ws"}, {"code", "101"}}), 1);
  const auto records = billing_.Snapshot();
  ASSERT_EQ(records.size(), 4u);
  const auto* cold = Record(records, "cold");
  const auto* gated_record = Record(records, "gated");
  const auto* started_record = Record(records, "started");
  const auto* ws_record = Record(records, "ws");
  ASSERT_TRUE(cold && gated_record && started_record && ws_record);
  EXPECT_EQ(cold->code, 503);
  EXPECT_EQ(cold->billed_ms, 0);  // never ran
  EXPECT_EQ(gated_record->code, 504);
  EXPECT_GE(gated_record->billed_ms, 300);  // billed for the time it ran
  EXPECT_EQ(started_record->code, 200);
  EXPECT_GE(started_record->billed_ms, 300);
  EXPECT_EQ(started_record->bytes_out, 10u);
  EXPECT_EQ(ws_record->code, 101);
  EXPECT_GE(ws_record->billed_ms, 300);
}

// Writes `head`, then `bytes` single bytes `interval` apart, until the peer
// stops it; returns the bytes written after the head.
std::future<int> Trickle(beast::tcp_stream& stream, std::string head, int bytes,
                         std::chrono::milliseconds interval) {
  return std::async(std::launch::async, [&stream, head = std::move(head), bytes, interval] {
    boost::system::error_code ec;
    asio::write(stream.socket(), asio::buffer(head), ec);
    int sent = 0;
    while (!ec && sent < bytes) {
      asio::write(stream.socket(), asio::buffer("x", 1), ec);
      if (!ec) ++sent;
      if (sent < bytes) std::this_thread::sleep_for(interval);  // the pace is the scenario
    }
    return sent;
  });
}

TEST_F(CutTest, TricklingBodyIsAnswered408AndFreesTheReplicaSlot) {
  Start(500ms);
  AddFunction("capped", {upstream_.address()}, [](FunctionConfig& c) { c.max_concurrency = 1; });
  Client slow(port());
  const auto start = std::chrono::steady_clock::now();
  // One byte every 1.5 s: each gap is longer than the 500 ms allowed.
  auto writer = Trickle(
      slow.stream(), "POST /fn/ns/capped/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n", 20, 1500ms);
  ASSERT_TRUE(Eventually([&] { return upstream_.in_flight() == 1; }));
  // Behind it, waiting for the one slot.
  auto next = std::async(std::launch::async, [&] { return Client(port()).Get("/fn/ns/capped/x"); });
  Reply cut = slow.ReadReply();
  const auto cut_after = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(cut.status, 408);
  EXPECT_EQ(nlohmann::json::parse(cut.body)["error"], "request body not received in time");
  EXPECT_LT(cut_after, 1400ms);       // before even the second byte
  EXPECT_EQ(next.get().status, 200);  // the slot was freed long before timeoutSeconds (10 s)
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  boost::system::error_code ignored;
  slow.stream().socket().shutdown(tcp::socket::shutdown_both, ignored);  // ends the writer
  writer.get();
  EXPECT_EQ(
      Metric("zeroscale_rejected_requests_total", {{"function", "capped"}, {"reason", "client_timeout"}}), 1);
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "capped"}, {"code", "408"}}), 1);
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 2; }));
  const auto records = billing_.Snapshot();
  const InvocationRecord* record = nullptr;
  for (const auto& r : records) {
    if (r.code == 408) record = &r;
  }
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->code, 408);
  EXPECT_GE(record->billed_ms, 450);
}

TEST_F(CutTest, ABodyThatKeepsComingWithinTheTimeoutGoesThrough) {
  Start(500ms);
  AddFunction("echo", {upstream_.address()});
  Client steady(port());
  // 20 bytes 50 ms apart: 1 s in all, twice the timeout, never a gap near it.
  auto writer = Trickle(steady.stream(),
                        "POST /fn/ns/echo/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n", 20, 50ms);
  Reply r = steady.ReadReply();
  EXPECT_EQ(writer.get(), 20);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::string(20, 'x'));
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "echo"}, {"reason", "client_timeout"}}),
            0);
}

}  // namespace
}  // namespace zs::activator::testing
