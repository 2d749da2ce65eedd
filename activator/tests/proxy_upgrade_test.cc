// Socket tests of upgrades (WebSocket) through the whole data path: the real
// fn-echo's WebSocket echo behind the activator, and fake replicas that
// refuse an upgrade or switch protocols unasked.
#include <gtest/gtest.h>

#include <future>

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

// A blocking WebSocket client through the activator.
class WsClient {
 public:
  explicit WsClient(uint16_t port) : ws_(io_) {
    beast::get_lowest_layer(ws_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  // The handshake; the 101 (or refusal) lands in response().
  boost::system::error_code Handshake(const std::string& target) {
    boost::system::error_code ec;
    ws_.handshake(response_, "a", target, ec);
    return ec;
  }
  std::string Echo(const std::string& message, bool binary) {
    ws_.binary(binary);
    ws_.write(asio::buffer(message));
    beast::flat_buffer buffer;
    ws_.read(buffer);
    EXPECT_EQ(ws_.got_binary(), binary);
    return beast::buffers_to_string(buffer.data());
  }
  // Reads until the connection fails; the error.
  boost::system::error_code ReadUntilFailure() {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    while (!ec) ws_.read(buffer, ec);
    return ec;
  }
  websocket::stream<beast::tcp_stream>& ws() { return ws_; }
  const websocket::response_type& response() const { return response_; }

 private:
  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  websocket::response_type response_;
};

class UpgradeTest : public ProxyTest {
 protected:
  void SetUp() override {
    StartProxy(DefaultOptions());
    fnecho::Options options;
    options.address = "127.0.0.1";
    options.port = 0;
    echo_ = std::make_unique<fnecho::Server>(options);
    ASSERT_TRUE(echo_->Start().ok());
  }
  std::string EchoAddress() const { return "127.0.0.1:" + std::to_string(echo_->port()); }
  std::unique_ptr<fnecho::Server> echo_;
};

TEST_F(UpgradeTest, WebSocketEchoesBothWaysAsOneInvocation) {
  AddFunction("ws", {EchoAddress()});
  WsClient client(port());
  ASSERT_FALSE(client.Handshake("/fn/ns/ws/chat"));
  EXPECT_EQ(client.response().result_int(), 101u);
  EXPECT_FALSE(client.response()["X-Request-Id"].empty());
  // One invocation in flight for the life of the connection.
  EXPECT_EQ(Metric("zeroscale_requests_in_flight", {{"function", "ws"}}), 1);
  EXPECT_EQ(echo_->in_flight(), 1);
  for (int i = 0; i < 5; ++i) {
    const std::string text = "message " + std::to_string(i);
    EXPECT_EQ(client.Echo(text, /*binary=*/false), text);
  }
  const std::string large(size_t{200} * 1024, 'b');  // several relay buffers
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.Echo(large, /*binary=*/true), large);
  // The close handshake goes through the tunnel: the replica answers it.
  boost::system::error_code ec;
  client.ws().close(websocket::close_code::normal, ec);
  EXPECT_FALSE(ec) << ec.message();

  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 1; }));
  const auto record = billing_.Snapshot()[0];
  EXPECT_EQ(record.code, 101);
  EXPECT_EQ(record.method, "GET");
  EXPECT_EQ(record.path, "/chat");
  EXPECT_GT(record.bytes_in, 3 * large.size());
  EXPECT_GT(record.bytes_out, 3 * large.size());
  EXPECT_GE(record.billed_ms, 1);
  EXPECT_EQ(record.pod, "ws-pod-" + std::to_string(echo_->port()));
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "ws"}, {"code", "101"}}), 1);
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "ws"}}), 0);
  EXPECT_EQ(Metric("zeroscale_requests_in_flight", {{"function", "ws"}}), 0);
  EXPECT_TRUE(Eventually([&] { return echo_->in_flight() == 0; }));
}

TEST_F(UpgradeTest, WebSocketToAFunctionAtZeroIsHeldWhileItWakes) {
  AddFunction("cold", {});
  auto opened = std::async(std::launch::async, [&] {
    auto client = std::make_unique<WsClient>(port());
    EXPECT_FALSE(client->Handshake("/fn/ns/cold/"));
    return client;
  });
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "cold"}) == 1; }));
  EXPECT_TRUE(Eventually([&] { return waker_.calls.load() == 1; }));
  SetEndpoints("cold", {EchoAddress()});
  auto client = opened.get();
  EXPECT_EQ(client->response().result_int(), 101u);
  EXPECT_EQ(client->Echo("awake", /*binary=*/false), "awake");
  boost::system::error_code ec;
  client->ws().close(websocket::close_code::normal, ec);
  EXPECT_FALSE(ec) << ec.message();
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 1; }));
  EXPECT_TRUE(billing_.Snapshot()[0].cold_start);
  EXPECT_EQ(billing_.Snapshot()[0].code, 101);
  EXPECT_EQ(Metric("zeroscale_cold_starts_total", {{"function", "cold"}}), 1);
}

TEST_F(UpgradeTest, WebSocketIsCutAtTimeoutSecondsOnBothSides) {
  AddFunction("short", {EchoAddress()}, [](FunctionConfig& c) { c.timeout = 800ms; });
  WsClient client(port());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_FALSE(client.Handshake("/fn/ns/short/"));
  EXPECT_EQ(client.Echo("still here", /*binary=*/false), "still here");
  // Nothing more is sent; the activator ends the connection at the timeout.
  const auto ec = client.ReadUntilFailure();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(ec == websocket::error::closed || ec == asio::error::eof || ec == asio::error::connection_reset)
      << ec.message();
  EXPECT_GE(elapsed, 750ms);
  EXPECT_LT(elapsed, 5s);
  // The replica's side was closed too.
  EXPECT_TRUE(Eventually([&] { return echo_->in_flight() == 0; }));
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 1; }));
  EXPECT_EQ(billing_.Snapshot()[0].code, 101);
  EXPECT_GE(billing_.Snapshot()[0].billed_ms, 790);
  EXPECT_EQ(Metric("zeroscale_invocations_total", {{"function", "short"}, {"code", "101"}}), 1);
  EXPECT_EQ(Metric("zeroscale_rejected_requests_total", {{"function", "short"}, {"reason", "exec_timeout"}}),
            1);
}

TEST_F(UpgradeTest, ARefusedUpgradeReachesTheClientAsTheReplicasAnswer) {
  AddFunction("plain", {upstream_.address()});
  const std::string upgrade_head =
      " HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  Client client(port());
  boost::system::error_code ec;
  client.WriteRaw("GET /fn/ns/plain/status?code=400" + upgrade_head, ec);
  Reply refused = client.ReadReply();
  EXPECT_EQ(refused.status, 400);
  // What the replica saw: the upgrade was offered to it.
  EXPECT_EQ(refused.Header("X-Seen-Upgrade"), "websocket");
  EXPECT_EQ(refused.Header("X-Seen-Connection"), "upgrade");
  client.WriteRaw("GET /fn/ns/plain/x" + upgrade_head, ec);
  Reply plain = client.ReadReply();  // same connection: a refusal is an ordinary answer
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, "ok");
  EXPECT_EQ(plain.Header("Upgrade"), "");
  // Metered after the answer went out.
  EXPECT_TRUE(Eventually([&] {
    return Metric("zeroscale_invocations_total", {{"function", "plain"}, {"code", "400"}}) == 1 &&
           Metric("zeroscale_invocations_total", {{"function", "plain"}, {"code", "200"}}) == 1;
  }));

  // An upgrade with a body is not passed on as one: the body would have to
  // be relayed before the switch.
  client.WriteRaw(
      "POST /fn/ns/plain/echo HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
      "Content-Length: 4\r\n\r\nbody",
      ec);
  Reply with_body = client.ReadReply();
  EXPECT_EQ(with_body.status, 200);
  EXPECT_EQ(with_body.body, "body");
  EXPECT_EQ(with_body.Header("X-Seen-Upgrade"), "");
}

TEST_F(UpgradeTest, ASwitchNobodyAskedForIs502) {
  AddFunction("plain", {upstream_.address()});
  Client client(port());
  Reply r = client.Get("/fn/ns/plain/switch");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(
      Metric("zeroscale_rejected_requests_total", {{"function", "plain"}, {"reason", "upstream_error"}}),
      1);  // metered before the activator's own answer is written
}

}  // namespace
}  // namespace zs::activator::testing
