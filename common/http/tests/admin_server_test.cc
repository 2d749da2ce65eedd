#include "common/http/admin_server.h"

#include <gtest/gtest.h>

#include <atomic>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace zs::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

struct Reply {
  int status = 0;
  std::string body;
};

// A blocking client: one request per connection unless a stream is reused.
Reply Get(uint16_t port, const std::string& target, bhttp::verb verb = bhttp::verb::get) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::empty_body> req(verb, target, 11);
  req.set(bhttp::field::host, "localhost");
  req.keep_alive(false);
  bhttp::write(stream, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  if (verb == bhttp::verb::head) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(true);
    bhttp::read(stream, buffer, parser);
    res = parser.release();
  } else {
    bhttp::read(stream, buffer, res);
  }
  return Reply{static_cast<int>(res.result_int()), res.body()};
}

TEST(ParseBindAddress, Forms) {
  auto a = ParseBindAddress(":8081");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 8081);
  a = ParseBindAddress("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  a = ParseBindAddress("[::1]:9090");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 9090);
  a = ParseBindAddress("localhost:80");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_FALSE(ParseBindAddress("8081").ok());
  EXPECT_FALSE(ParseBindAddress(":70000").ok());
  EXPECT_FALSE(ParseBindAddress(":").ok());
  EXPECT_FALSE(ParseBindAddress("[::1]").ok());
  EXPECT_TRUE(IsDisabledAddress("0"));
  EXPECT_TRUE(IsDisabledAddress(""));
  EXPECT_FALSE(IsDisabledAddress(":0"));
}

TEST(AdminServer, ServesHealthReadinessAndMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter().Name("zs_test_total").Help("test").Register(*registry);
  family.Add({{"k", "v"}}).Increment(3);
  std::atomic<bool> ready{false};

  AdminServer::Options options;
  options.bind_address = "127.0.0.1:0";
  options.collectables = {registry};
  options.ready = [&]() -> absl::Status {
    return ready ? absl::OkStatus() : absl::UnavailableError("caches not synced");
  };
  auto server = AdminServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->port();
  ASSERT_NE(port, 0);

  EXPECT_EQ(Get(port, "/healthz").status, 200);
  Reply r = Get(port, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "caches not synced\n");
  ready = true;
  EXPECT_EQ(Get(port, "/readyz").status, 200);

  r = Get(port, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("zs_test_total{k=\"v\"} 3"), std::string::npos) << r.body;
  r = Get(port, "/metrics", bhttp::verb::head);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());

  EXPECT_EQ(Get(port, "/nope").status, 404);
  EXPECT_EQ(Get(port, "/healthz", bhttp::verb::post).status, 405);
  (*server)->Stop();
  (*server)->Stop();
}

TEST(AdminServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  AdminServer::Options options;
  options.bind_address = "127.0.0.1:0";
  auto server = AdminServer::Start(options);
  ASSERT_TRUE(server.ok());
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), (*server)->port()));
  beast::flat_buffer buffer;
  for (int i = 0; i < 3; ++i) {
    bhttp::request<bhttp::empty_body> req(bhttp::verb::get, "/healthz", 11);
    bhttp::write(stream, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
  }
  // /metrics without registries is not served.
  bhttp::request<bhttp::empty_body> req(bhttp::verb::get, "/metrics", 11);
  bhttp::write(stream, req);
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  EXPECT_EQ(res.result_int(), 404u);
}

TEST(AdminServer, StopWithOpenConnectionReturns) {
  AdminServer::Options options;
  options.bind_address = "127.0.0.1:0";
  auto server = AdminServer::Start(options);
  ASSERT_TRUE(server.ok());
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), (*server)->port()));
  // Accepted, or still in the backlog: either way Stop must close it.
  (*server)->Stop();  // a session may be waiting to read; Stop must not hang on it
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(10));  // a regression fails, not hangs
  bhttp::read(stream, buffer, res, ec);
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, beast::error::timeout) << "the connection stayed open after Stop";
}

TEST(AdminServer, BadAddressFailsAtStart) {
  AdminServer::Options options;
  options.bind_address = "no-such-host:1";
  EXPECT_FALSE(AdminServer::Start(options).ok());
}

}  // namespace
}  // namespace zs::http
