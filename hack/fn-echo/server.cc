#include "hack/fn-echo/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace zs::fnecho {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

constexpr std::size_t kChunk = std::size_t{16} * 1024;
constexpr char kHello[] = "hello from fn-echo\n";

std::optional<int64_t> ToInt(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// The value of `key` in a raw query string ("a=1&b=2"), without decoding:
// the controls are numbers.
std::optional<std::string_view> QueryValue(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

struct Controls {
  int64_t delay_ms = 0;
  std::optional<int> status;
  std::optional<int64_t> bytes;
  bool echo = false;
  bool any = false;
};

template <typename Fields>
Controls ParseControls(std::string_view query, const Fields& headers) {
  Controls c;
  auto get = [&](std::string_view key, std::string_view header) -> std::optional<std::string_view> {
    if (auto v = QueryValue(query, key)) return v;
    auto it = headers.find(beast::string_view(header.data(), header.size()));
    if (it != headers.end()) return std::string_view(it->value().data(), it->value().size());
    return std::nullopt;
  };
  if (auto v = get("delay_ms", "X-Delay-Ms")) {
    c.any = true;
    c.delay_ms = std::clamp<int64_t>(ToInt(*v).value_or(0), 0, 3'600'000);
  }
  if (auto v = get("status", "X-Status")) {
    c.any = true;
    if (auto n = ToInt(*v); n && *n >= 100 && *n <= 599) c.status = static_cast<int>(*n);
  }
  if (auto v = get("bytes", "X-Bytes")) {
    c.any = true;
    if (auto n = ToInt(*v); n && *n >= 0) c.bytes = *n;
  }
  if (auto v = get("echo", "X-Echo")) {
    c.any = true;
    c.echo = *v == "1" || *v == "true";
  }
  return c;
}

}  // namespace

// One accepted connection. Lives on its own strand; `idle` and `draining`
// are touched only on that strand.
struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  bool idle = true;
  bool draining = false;
  bool websocket = false;  // upgraded: Shutdown closes it at once
  // The request in hand counts in in_flight until its answer starts going
  // out: a proxy that waits for the whole answer before sending the next
  // request can never be seen with two at once, however late this
  // coroutine resumes after its write.
  std::atomic<int>* counted_in = nullptr;
  void Uncount() {
    if (counted_in != nullptr) counted_in->fetch_sub(1);
    counted_in = nullptr;
  }
};

struct Server::Impl {
  explicit Impl(Options o)
      : options(std::move(o)), ioc(std::max(1, options.threads)), acceptor(asio::make_strand(ioc)) {}

  Options options;
  asio::io_context ioc;
  tcp::acceptor acceptor;  // on its own strand: Shutdown() closes it from outside
  std::vector<std::thread> threads;
  int bound_port = 0;
  std::atomic<int> in_flight{0};
  std::atomic<int> peak_in_flight{0};
  std::atomic<int64_t> requests{0};

  std::mutex mu;
  bool shutting_down = false;                                   // guarded by mu
  std::unordered_set<std::shared_ptr<Connection>> connections;  // guarded by mu

  awaitable<void> Accept();
  awaitable<void> Serve(std::shared_ptr<Connection> conn);
  awaitable<void> Handle(Connection& conn, beast::flat_buffer& buffer,
                         http::request_parser<http::buffer_body>& parser, bool* keep_alive);
  // Accepts a WebSocket handshake and echoes every message until a close.
  awaitable<void> ServeWebSocket(Connection& conn, const http::request<http::buffer_body>& req);
  std::string Describe(const http::request_parser<http::buffer_body>::value_type& req, std::string_view path,
                       std::string_view query, uint64_t body_bytes) const;
};

awaitable<void> Server::Impl::Accept() {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::make_strand(ioc), asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) continue;  // e.g. EMFILE; keep serving the connections we have
    socket.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Connection>(std::move(socket));
    {
      std::lock_guard lock(mu);
      if (shutting_down) co_return;
      connections.insert(conn);
    }
    asio::co_spawn(conn->stream.get_executor(), Serve(conn), asio::detached);
  }
}

awaitable<void> Server::Impl::Serve(std::shared_ptr<Connection> conn) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::buffer_body> parser;
    // boost::none would be "no limit", but Boost 1.74 compares the
    // Content-Length against an empty optional and refuses every body.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(64 * 1024);
    beast::error_code ec;
    conn->idle = true;
    if (conn->draining) break;
    conn->stream.expires_after(options.keepalive_timeout);
    co_await http::async_read_header(conn->stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    conn->idle = false;
    if (ec) break;  // closed, timed out, cancelled by Shutdown, or malformed
    conn->stream.expires_never();
    bool keep_alive = false;
    const int now_in_flight = in_flight.fetch_add(1) + 1;
    conn->counted_in = &in_flight;
    requests.fetch_add(1);
    int peak = peak_in_flight.load();
    while (now_in_flight > peak && !peak_in_flight.compare_exchange_weak(peak, now_in_flight)) {
    }
    try {
      if (beast::websocket::is_upgrade(parser.get())) {
        conn->websocket = true;
        co_await ServeWebSocket(*conn, parser.get());
      } else {
        co_await Handle(*conn, buffer, parser, &keep_alive);
      }
    } catch (const std::exception&) {
      // The peer went away mid-response, or the request could not be
      // described: never leave the connection open without an answer.
      keep_alive = false;
    }
    conn->Uncount();
    if (!keep_alive || conn->draining) break;
  }
  beast::error_code ignored;
  conn->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  conn->stream.socket().close(ignored);
  std::lock_guard lock(mu);
  connections.erase(conn);
}

awaitable<void> Server::Impl::ServeWebSocket(Connection& conn, const http::request<http::buffer_body>& req) {
  // A client waits for the 101 before it sends frames (RFC 6455 §4.1), so
  // nothing of the WebSocket is in the HTTP read buffer.
  beast::websocket::stream<beast::tcp_stream&> ws(conn.stream);
  ws.set_option(beast::websocket::stream_base::decorator(
      [](beast::websocket::response_type& res) { res.set(http::field::server, "fn-echo"); }));
  beast::error_code ec;
  co_await ws.async_accept(req, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer message;
  for (;;) {
    co_await ws.async_read(message, asio::redirect_error(use_awaitable, ec));
    if (ec) break;  // closed by the peer (the close was answered), or failed
    ws.text(ws.got_text());
    co_await ws.async_write(message.data(), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    message.consume(message.size());
  }
}

std::string Server::Impl::Describe(const http::request_parser<http::buffer_body>::value_type& req,
                                   std::string_view path, std::string_view query, uint64_t body_bytes) const {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& field : req) {
    std::string name(field.name_string().data(), field.name_string().size());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
    std::string value(field.value().data(), field.value().size());
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = value;
    } else {
      *it = it->template get<std::string>() + ", " + value;
    }
  }
  nlohmann::json out = {
      {"method", std::string(req.method_string().data(), req.method_string().size())},
      {"path", std::string(path)},
      {"query", std::string(query)},
      {"headers", std::move(headers)},
      {"body_bytes", body_bytes},
      {"pod", options.pod},
  };
  // Field values may carry obs-text (bytes 0x80-0xFF, valid HTTP, not UTF-8).
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

awaitable<void> Server::Impl::Handle(Connection& conn, beast::flat_buffer& buffer,
                                     http::request_parser<http::buffer_body>& parser, bool* keep_alive) {
  auto& req = parser.get();
  const std::string_view target(req.target().data(), req.target().size());
  const std::size_t qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query = qmark == std::string_view::npos ? "" : target.substr(qmark + 1);
  const Controls controls = ParseControls(query, req);
  const unsigned version = req.version();
  *keep_alive = req.keep_alive() && !conn.draining;
  const bool head = req.method() == http::verb::head;

  // curl and others wait for this before sending a large body.
  if (auto it = req.find(http::field::expect);
      it != req.end() && beast::iequals(it->value(), "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, version};
    co_await http::async_write(conn.stream, cont, use_awaitable);
  }

  asio::steady_timer timer(conn.stream.get_executor());
  auto delay = [&]() -> awaitable<void> {
    if (controls.delay_ms <= 0) co_return;
    timer.expires_after(std::chrono::milliseconds(controls.delay_ms));
    co_await timer.async_wait(use_awaitable);
  };
  const auto status = static_cast<http::status>(controls.status.value_or(200));

  std::array<char, kChunk> chunk;
  // Reads the next piece of the request body into `chunk`; returns its size.
  auto read_some = [&]() -> awaitable<std::size_t> {
    req.body().data = chunk.data();
    req.body().size = chunk.size();
    beast::error_code ec;
    co_await http::async_read(conn.stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec && ec != http::error::need_buffer) throw boost::system::system_error(ec);
    co_return chunk.size() - req.body().size;
  };

  if (controls.echo) {
    co_await delay();
    http::response<http::buffer_body> res{status, version};
    res.set(http::field::server, "fn-echo");
    res.set(http::field::content_type, req.count(http::field::content_type)
                                           ? std::string(req[http::field::content_type])
                                           : std::string("application/octet-stream"));
    if (auto length = parser.content_length()) {
      res.content_length(*length);
    } else if (version >= 11) {
      res.chunked(true);
    } else {
      *keep_alive = false;  // HTTP/1.0 without a length: the close ends the body
    }
    res.keep_alive(*keep_alive);
    res.body().data = nullptr;
    res.body().more = true;
    http::response_serializer<http::buffer_body> sr{res};
    co_await http::async_write_header(conn.stream, sr, use_awaitable);
    while (!parser.is_done()) {
      std::size_t n = co_await read_some();
      if (n == 0) continue;
      res.body().data = chunk.data();
      res.body().size = n;
      res.body().more = true;
      beast::error_code ec;
      co_await http::async_write(conn.stream, sr, asio::redirect_error(use_awaitable, ec));
      if (ec && ec != http::error::need_buffer) throw boost::system::system_error(ec);
    }
    res.body().data = nullptr;
    res.body().more = false;
    co_await http::async_write(conn.stream, sr, use_awaitable);
    co_return;
  }

  uint64_t body_bytes = 0;
  while (!parser.is_done()) {
    body_bytes += co_await read_some();
  }
  co_await delay();

  if (controls.bytes) {
    http::response<http::buffer_body> res{status, version};
    res.set(http::field::server, "fn-echo");
    res.set(http::field::content_type, "application/octet-stream");
    res.content_length(*controls.bytes);
    res.keep_alive(*keep_alive);
    res.body().data = nullptr;
    res.body().more = !head && *controls.bytes > 0;
    http::response_serializer<http::buffer_body> sr{res};
    co_await http::async_write_header(conn.stream, sr, use_awaitable);
    if (head) co_return;
    std::fill(chunk.begin(), chunk.end(), 'x');
    uint64_t remaining = static_cast<uint64_t>(*controls.bytes);
    while (remaining > 0) {
      std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(remaining, chunk.size()));
      remaining -= n;
      res.body().data = chunk.data();
      res.body().size = n;
      res.body().more = true;
      beast::error_code ec;
      co_await http::async_write(conn.stream, sr, asio::redirect_error(use_awaitable, ec));
      if (ec && ec != http::error::need_buffer) throw boost::system::system_error(ec);
    }
    res.body().data = nullptr;
    res.body().more = false;
    co_await http::async_write(conn.stream, sr, use_awaitable);
    co_return;
  }

  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "fn-echo");
  if (path == "/healthz") {
    res.set(http::field::content_type, "text/plain");
    res.body() = "ok\n";
  } else if (path == "/" && req.method() == http::verb::get && !controls.any) {
    res.set(http::field::content_type, "text/plain");
    res.body() = kHello;
  } else {
    res.set(http::field::content_type, "application/json");
    res.body() = Describe(req, path, query, body_bytes);
  }
  if (path == "/stats") {
    res.set(http::field::content_type, "application/json");
    // In flight besides this request.
    res.body() = nlohmann::json{{"in_flight", in_flight.load() - 1},
                                {"peak_in_flight", peak_in_flight.load()},
                                {"requests", requests.load()}}
                     .dump() +
                 "\n";
  }
  res.keep_alive(*keep_alive);
  if (*keep_alive && options.announce_keepalive) {
    res.set(http::field::keep_alive,
            "timeout=" +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(options.keepalive_timeout).count()));
  }
  res.prepare_payload();
  conn.Uncount();
  if (head) {
    http::response_serializer<http::string_body> sr{res};
    co_await http::async_write_header(conn.stream, sr, use_awaitable);
    co_return;
  }
  co_await http::async_write(conn.stream, res, use_awaitable);
}

Server::Server(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  Shutdown();
  Wait();
}

absl::Status Server::Start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.address, ec);
  if (ec) return absl::InvalidArgumentError(Cat("bad address ", impl_->options.address, ": ", ec.message()));
  tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->options.port));
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        Cat("listen on ", impl_->options.address, ":", impl_->options.port, ": ", ec.message()));
  }
  impl_->bound_port = acceptor.local_endpoint().port();
  asio::co_spawn(acceptor.get_executor(), impl_->Accept(), asio::detached);
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
  return absl::OkStatus();
}

int Server::port() const { return impl_->bound_port; }
int Server::in_flight() const { return impl_->in_flight.load(); }
int Server::peak_in_flight() const { return impl_->peak_in_flight.load(); }

void Server::Shutdown() {
  std::vector<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->shutting_down) return;
    impl_->shutting_down = true;
    connections.assign(impl_->connections.begin(), impl_->connections.end());
  }
  asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  for (auto& conn : connections) {
    asio::post(conn->stream.get_executor(), [conn] {
      conn->draining = true;
      if (conn->idle) conn->stream.cancel();
      if (conn->websocket) {
        beast::error_code ignored;
        conn->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      }
    });
  }
}

void Server::Wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

}  // namespace zs::fnecho
