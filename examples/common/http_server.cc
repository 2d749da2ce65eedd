#include "examples/common/http_server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace zs::examples {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::mutex log_mu;

struct Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  bool idle = false;  // waiting for the next request; guarded by Server::mu_
};

// Owns the connections of one Serve() call. Connection threads are detached
// and hold a shared_ptr to their Connection; Stop() wakes the idle ones and
// WaitForConnections() returns once the last one has gone.
class Server {
 public:
  Server(std::string name, const Handler& handler, std::size_t max_body, std::chrono::seconds keepalive)
      : name_(std::move(name)), handler_(handler), max_body_(max_body), keepalive_(keepalive) {}

  void AcceptLoop(tcp::acceptor& acceptor) {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(acceptor.get_executor());
      acceptor.accept(socket, ec);
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      if (ec) continue;  // e.g. EMFILE: keep serving the connections we have
      auto conn = std::make_shared<Connection>(std::move(socket));
      // Idle keep-alive connections close after `keepalive_`; a read that
      // waits that long fails and ends the connection.
      timeval timeout{static_cast<time_t>(keepalive_.count()), 0};
      setsockopt(conn->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      conn->socket.set_option(tcp::no_delay(true), ec);
      {
        std::lock_guard lock(mu_);
        connections_.insert(conn);
        ++threads_;
      }
      std::thread([this, conn]() mutable {
        ServeConnection(*conn);
        Forget(std::move(conn));
      }).detach();
    }
  }

  // Stops accepting (the caller shuts the listening socket down) and closes
  // every idle connection; busy ones close after their response.
  void Stop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (const auto& conn : connections_) {
      if (conn->idle) shutdown(conn->socket.native_handle(), SHUT_RDWR);
    }
  }

  void WaitForConnections() {
    std::unique_lock lock(mu_);
    all_closed_.wait(lock, [this] { return threads_ == 0; });
  }

 private:
  void ServeConnection(Connection& conn) {
    beast::flat_buffer buffer;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
        conn.idle = true;
      }
      http::request_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(max_body_);
      beast::error_code ec;
      http::read_header(conn.socket, buffer, parser, ec);
      {
        std::lock_guard lock(mu_);
        conn.idle = false;
      }
      if (ec == http::error::body_limit) {
        Write(conn, Error(413, "request body over the limit"), 11, false);
        break;
      }
      if (ec) break;  // closed, idle too long, stopped, or not HTTP
      auto& head = parser.get();
      if (auto it = head.find(http::field::expect);
          it != head.end() && beast::iequals(it->value(), "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, head.version()};
        http::write(conn.socket, cont, ec);
        if (ec) break;
      }
      http::read(conn.socket, buffer, parser, ec);
      if (ec == http::error::body_limit) {
        Write(conn, Error(413, "request body over the limit"), head.version(), false);
        break;
      }
      if (ec) break;
      const auto& req = parser.get();
      Request request;
      request.method = std::string(req.method_string());
      const std::string_view target(req.target().data(), req.target().size());
      const std::size_t qmark = target.find('?');
      request.path = std::string(target.substr(0, qmark));
      if (qmark != std::string_view::npos) request.query = std::string(target.substr(qmark + 1));
      for (const auto& field : req) {
        std::string name(field.name_string());
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        request.headers[name] = std::string(field.value());
      }
      request.body = req.body();
      const Response response = Dispatch(request);
      bool keep_alive = req.keep_alive();
      {
        std::lock_guard lock(mu_);
        keep_alive = keep_alive && !stopping_;
      }
      if (!Write(conn, response, req.version(), keep_alive) || !keep_alive) break;
    }
    beast::error_code ignored;
    conn.socket.shutdown(tcp::socket::shutdown_send, ignored);
    conn.socket.close(ignored);
  }

  // The connection's socket is destroyed before the thread is counted out:
  // Serve() may tear the io_context down as soon as the count reaches 0.
  void Forget(std::shared_ptr<Connection> conn) {
    {
      std::lock_guard lock(mu_);
      connections_.erase(conn);
    }
    conn.reset();
    std::lock_guard lock(mu_);
    if (--threads_ == 0) all_closed_.notify_all();
  }

  Response Dispatch(const Request& request) {
    if (request.method == "GET" && request.path == "/healthz") return {200, "text/plain", "ok\n"};
    try {
      return handler_(request);
    } catch (const std::exception& e) {
      LogJson({{"msg", "handler failed"}, {"program", name_}, {"path", request.path}, {"error", e.what()}});
      return Error(500, e.what());
    }
  }

  bool Write(Connection& conn, const Response& response, unsigned version, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(response.status), version};
    res.set(http::field::server, name_);
    res.set(http::field::content_type, response.content_type);
    res.body() = response.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    beast::error_code ec;
    http::write(conn.socket, res, ec);
    return !ec;
  }

  const std::string name_;
  const Handler& handler_;
  const std::size_t max_body_;
  const std::chrono::seconds keepalive_;
  std::mutex mu_;
  std::condition_variable all_closed_;
  bool stopping_ = false;                                        // guarded by mu_
  std::unordered_set<std::shared_ptr<Connection>> connections_;  // guarded by mu_
  int threads_ = 0;  // connection threads still running; guarded by mu_
};

}  // namespace

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Response Json(int status, const nlohmann::json& body) {
  return {status, "application/json",
          body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

Response Error(int status, std::string_view message) {
  return Json(status, {{"error", std::string(message)}});
}

std::string Env(const char* name, std::string_view fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::string(fallback);
}

int64_t EnvInt(const char* name, int64_t fallback) {
  const std::string text = Env(name, "");
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() ? value : fallback;
}

std::string NowRfc3339() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(millis));
  return text;
}

void LogJson(const nlohmann::json& line) {
  // "time" first, then the line's own fields (nlohmann::json sorts keys).
  std::string text = "{\"time\":\"" + NowRfc3339() + "\"";
  const std::string fields = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += line.is_object() && fields.size() > 2 ? "," + fields.substr(1) : std::string("}");
  std::lock_guard lock(log_mu);
  std::cout << text << '\n' << std::flush;
}

int Serve(std::string_view name, const Handler& handler) {
  // Stop signals are taken by this thread (sigwait); every thread started
  // below inherits the blocked mask. A peer that goes away mid-write must not
  // kill the process.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const int64_t port = EnvInt("PORT", 8080);
  const auto max_body = static_cast<std::size_t>(EnvInt("MAX_BODY_BYTES", 1 << 20));
  const std::chrono::seconds keepalive(EnvInt("KEEPALIVE_TIMEOUT_SECONDS", 120));
  Server server{std::string(name), handler, max_body, keepalive};

  asio::io_context ioc;
  tcp::acceptor acceptor(ioc);
  beast::error_code ec;
  const tcp::endpoint endpoint(tcp::v4(), static_cast<unsigned short>(port));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    LogJson(
        {{"msg", "cannot listen"}, {"program", std::string(name)}, {"port", port}, {"error", ec.message()}});
    return 1;
  }
  LogJson({{"msg", "listening"}, {"program", std::string(name)}, {"port", port}});
  std::thread accept_thread([&] { server.AcceptLoop(acceptor); });

  int sig = 0;
  sigwait(&stop, &sig);
  server.Stop();
  // Wakes the blocked accept(); the loop sees stopping_ and returns.
  shutdown(acceptor.native_handle(), SHUT_RDWR);
  accept_thread.join();
  acceptor.close(ec);
  server.WaitForConnections();
  LogJson({{"msg", "stopped"}, {"program", std::string(name)}, {"signal", sig}});
  return 0;
}

}  // namespace zs::examples
