#include "hack/fn-echo/server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace zs::fnecho {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct Reply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
};

// One blocking HTTP/1.1 exchange on a fresh connection.
Reply Fetch(int port, const std::string& target, http::verb method = http::verb::get, std::string body = "",
            const std::map<std::string, std::string>& headers = {}) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(uint64_t{64} * 1024 * 1024);
  http::read(socket, buffer, parser);
  Reply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = parser.get().body();
  for (auto& f : parser.get()) reply.headers[std::string(f.name_string())] = std::string(f.value());
  return reply;
}

bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = RealClock::Get().Now() + timeout;
  while (RealClock::Get().Now() < deadline) {
    if (condition()) return true;
    RealClock::Get().SleepFor(2ms);
  }
  return condition();
}

Options LocalOptions(int threads, std::string pod = "") {
  Options options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.threads = threads;
  options.pod = std::move(pod);
  return options;
}

class FnEchoTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }
  Server server_{LocalOptions(2, "pod-a")};
};

TEST_F(FnEchoTest, RootIsCheapHello) {
  ASSERT_NE(server_.port(), 0);
  Reply r = Fetch(server_.port(), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello from fn-echo\n");
}

TEST_F(FnEchoTest, Healthz) {
  Reply r = Fetch(server_.port(), "/healthz");
  EXPECT_EQ(r.status, 200);
}

TEST_F(FnEchoTest, EchoesRequestAsJson) {
  Reply r = Fetch(server_.port(), "/a/b?x=1&y=2", http::verb::post, "hello", {{"X-Custom", "v"}});
  ASSERT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["path"], "/a/b");
  EXPECT_EQ(j["query"], "x=1&y=2");
  EXPECT_EQ(j["headers"]["x-custom"], "v");
  EXPECT_EQ(j["body_bytes"], 5);
  EXPECT_EQ(j["pod"], "pod-a");
}

TEST_F(FnEchoTest, StatusFromQueryAndHeader) {
  EXPECT_EQ(Fetch(server_.port(), "/x?status=503").status, 503);
  EXPECT_EQ(Fetch(server_.port(), "/x", http::verb::get, "", {{"X-Status", "418"}}).status, 418);
}

TEST_F(FnEchoTest, BytesStreamsExactLength) {
  Reply r = Fetch(server_.port(), "/x?bytes=100000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 100000u);
  EXPECT_EQ(Fetch(server_.port(), "/x?bytes=0").body.size(), 0u);
}

TEST_F(FnEchoTest, EchoStreamsBodyBack) {
  std::string body(200000, 'q');
  body[12345] = 'z';
  Reply r = Fetch(server_.port(), "/x?echo=1", http::verb::post, body, {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.headers["Content-Type"], "text/plain");
}

TEST_F(FnEchoTest, DelayWaitsAtLeastThatLong) {
  const auto start = RealClock::Get().Now();
  Reply r = Fetch(server_.port(), "/x?delay_ms=150");
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(RealClock::Get().Now() - start, 150ms);
}

TEST(FnEcho, DelayDoesNotBlockTheThread) {
  Server server(LocalOptions(1));
  ASSERT_TRUE(server.Start().ok());
  auto slow = std::async(std::launch::async, [&] { return Fetch(server.port(), "/x?delay_ms=3000"); });
  ASSERT_TRUE(PollUntil([&] { return server.in_flight() == 1; }));
  // One worker thread, yet a second request is answered while the first waits.
  EXPECT_EQ(Fetch(server.port(), "/").status, 200);
  EXPECT_NE(slow.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(slow.get().status, 200);
}

TEST(FnEcho, ShutdownFinishesInFlightAndStopsAccepting) {
  Server server(LocalOptions(2));
  ASSERT_TRUE(server.Start().ok());
  const int port = server.port();
  auto slow = std::async(std::launch::async, [&] { return Fetch(port, "/x?delay_ms=300"); });
  ASSERT_TRUE(PollUntil([&] { return server.in_flight() == 1; }));
  server.Shutdown();
  EXPECT_EQ(slow.get().status, 200);
  server.Wait();
  EXPECT_THROW(Fetch(port, "/"), boost::system::system_error);
}

TEST(FnEcho, KeepAliveServesManyRequestsOnOneConnection) {
  Server server(LocalOptions(2));
  ASSERT_TRUE(server.Start().ok());
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())));
  beast::flat_buffer buffer;
  for (int i = 0; i < 50; ++i) {
    http::request<http::empty_body> req{http::verb::get, "/", 11};
    req.set(http::field::host, "x");
    http::write(socket, req);
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    ASSERT_EQ(res.result_int(), 200);
    ASSERT_TRUE(res.keep_alive());
  }
}

// A valid field value with obs-text (bytes 0x80-0xFF, not UTF-8) used to make
// the JSON description throw and leave the connection open with no answer.
TEST_F(FnEchoTest, AnswersObsTextHeaderValues) {
  Reply r = Fetch(server_.port(), "/x", http::verb::get, "", {{"X-Latin1", "caf\xe9 cr\xe8me"}});
  ASSERT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["headers"]["x-latin1"].get<std::string>().substr(0, 3), "caf");
}

TEST_F(FnEchoTest, StatsReportPeakInFlight) {
  auto slow = std::async(std::launch::async, [&] { return Fetch(server_.port(), "/?delay_ms=300"); });
  auto slow2 = std::async(std::launch::async, [&] { return Fetch(server_.port(), "/?delay_ms=300"); });
  ASSERT_TRUE(PollUntil([&] { return server_.in_flight() == 2; }));
  EXPECT_EQ(slow.get().status, 200);
  EXPECT_EQ(slow2.get().status, 200);
  Reply r = Fetch(server_.port(), "/stats");
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["peak_in_flight"].get<int>(), 2);
  EXPECT_EQ(server_.peak_in_flight(), 2);
}

TEST(FnEcho, IdleKeepAliveConnectionsCloseAfterTheTimeoutAndAnnounceIt) {
  Options options = LocalOptions(1);
  options.keepalive_timeout = 300ms;
  options.announce_keepalive = true;
  Server server(options);
  ASSERT_TRUE(server.Start().ok());
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())));
  http::request<http::empty_body> req{http::verb::get, "/x", 11};
  req.set(http::field::host, "x");
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  EXPECT_EQ(res[http::field::keep_alive], "timeout=0");
  const auto start = RealClock::Get().Now();
  char byte;
  boost::system::error_code ec;
  socket.read_some(asio::buffer(&byte, 1), ec);  // blocks until the server closes
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_GE(RealClock::Get().Now() - start, 250ms);
}

// The real binary: PORT=0 prints the bound port in its start line; SIGTERM
// exits 0.
TEST(FnEchoBinary, StartsOnPortZeroAndExitsOnSigterm) {
  int err_pipe[2];
  ASSERT_EQ(pipe(err_pipe), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(err_pipe[1], 2);
    close(err_pipe[0]);
    setenv("PORT", "0", 1);
    setenv("POD_NAME", "bin-pod", 1);
    execl(FN_ECHO_BINARY, "fn-echo", "--address=127.0.0.1", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(err_pipe[1]);
  std::string line;
  const auto deadline = RealClock::Get().Now() + 10s;
  while (line.find('\n') == std::string::npos && RealClock::Get().Now() < deadline) {
    pollfd pfd{err_pipe[0], POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    char buf[512];
    ssize_t n = read(err_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  close(err_pipe[0]);
  auto j = nlohmann::json::parse(line.substr(0, line.find('\n')), nullptr, false);
  ASSERT_TRUE(j.is_object()) << line;
  int port = j.value("port", 0);
  ASSERT_GT(port, 0) << line;
  Reply r = Fetch(port, "/p");
  EXPECT_EQ(nlohmann::json::parse(r.body)["pod"], "bin-pod");
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_TRUE(PollUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 10s));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace zs::fnecho
