#include "common/http/admin_server.h"

#include <charconv>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/strings.h"

namespace zs::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

bool IsDisabledAddress(std::string_view text) { return text.empty() || text == "0"; }

absl::StatusOr<BindAddress> ParseBindAddress(std::string_view text) {
  BindAddress out;
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(Cat("bad bind address \"", text, "\": want [host]:port"));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(Cat("bad bind address \"", text, "\": want host:port or :port"));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return absl::InvalidArgumentError(Cat("bad port in bind address \"", text, "\""));
  }
  out.port = static_cast<uint16_t>(value);
  if (host.empty()) {
    out.host = "0.0.0.0";
  } else if (host == "localhost") {
    out.host = "127.0.0.1";
  } else {
    out.host = std::string(host);
  }
  return out;
}

class AdminServer::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)), acceptor_(io_) {}

  absl::Status Bind() {
    auto parsed = ParseBindAddress(options_.bind_address);
    if (!parsed.ok()) return parsed.status();
    beast::error_code ec;
    const auto ip = asio::ip::make_address(parsed->host, ec);
    if (ec)
      return absl::InvalidArgumentError(Cat("bad host in \"", options_.bind_address, "\": ", ec.message()));
    const tcp::endpoint endpoint(ip, parsed->port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(Cat("listen on ", options_.bind_address, ": ", ec.message()));
    bound_ = acceptor_.local_endpoint(ec);
    return absl::OkStatus();
  }

  void Run() {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Stops serving: open connections are closed now, not when the server is
  // destroyed (their pending handlers live in io_ until then).
  void Stop();

  uint16_t port() const { return bound_.port(); }
  std::string address() const { return Cat(bound_.address().to_string(), ":", bound_.port()); }

  // Builds the response for one request; runs on the server thread.
  bhttp::response<bhttp::string_body> Handle(const bhttp::request<bhttp::string_body>& req) const {
    bhttp::response<bhttp::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(bhttp::field::server, "zeroscale");
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    auto text = [&](bhttp::status status, std::string body) {
      res.result(status);
      res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
      res.body() = std::move(body);
    };
    if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
      text(bhttp::status::method_not_allowed, "method not allowed\n");
    } else if (path == "/healthz" || path == "/livez") {
      absl::Status s = options_.healthy ? options_.healthy() : absl::OkStatus();
      if (s.ok()) {
        text(bhttp::status::ok, "ok\n");
      } else {
        text(bhttp::status::internal_server_error, Cat(Message(s), "\n"));
      }
    } else if (path == "/readyz") {
      absl::Status s = options_.ready ? options_.ready() : absl::OkStatus();
      if (s.ok()) {
        text(bhttp::status::ok, "ok\n");
      } else {
        text(bhttp::status::service_unavailable, Cat(Message(s), "\n"));
      }
    } else if (path == "/metrics" && !options_.collectables.empty()) {
      std::vector<prometheus::MetricFamily> families;
      for (const auto& collectable : options_.collectables) {
        auto collected = collectable->Collect();
        families.insert(families.end(), std::make_move_iterator(collected.begin()),
                        std::make_move_iterator(collected.end()));
      }
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, families);
      res.result(bhttp::status::ok);
      res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = std::move(out).str();
    } else {
      text(bhttp::status::not_found, "not found\n");
    }
    res.prepare_payload();
    if (req.method() == bhttp::verb::head) {
      // Content-Length stays that of the GET; the body is not sent.
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    return res;
  }

 private:
  class Session;
  // Sessions accepted so far (touched only on the io_ thread, or after it
  // has been joined).
  std::vector<std::weak_ptr<Session>> sessions_;

  void Accept();

  Options options_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  tcp::endpoint bound_;
  std::thread thread_;
  bool stopped_ = false;
};

// One client connection; keeps itself alive through the handlers it has
// pending.
class AdminServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(const Impl* server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {}

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  void Read() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(uint64_t{64} * 1024);
    stream_.expires_after(std::chrono::seconds(30));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) {
      Close();
      return;
    }
    response_ = std::make_unique<bhttp::response<bhttp::string_body>>(server_->Handle(parser_->get()));
    stream_.expires_after(std::chrono::seconds(30));
    bhttp::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      const bool keep_alive = self->response_->keep_alive();
      self->response_.reset();
      if (ec || !keep_alive) {
        self->Close();
        return;
      }
      self->Read();
    });
  }

  const Impl* server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<bhttp::response<bhttp::string_body>> response_;
};

void AdminServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Out of descriptors and the like: keep serving what we can.
    } else {
      auto session = std::make_shared<Session>(this, std::move(socket));
      std::erase_if(sessions_, [](const std::weak_ptr<Session>& s) { return s.expired(); });
      sessions_.push_back(session);
      session->Read();
    }
    Accept();
  });
}

void AdminServer::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  io_.stop();
  if (thread_.joinable()) thread_.join();
  beast::error_code ec;
  acceptor_.close(ec);
  for (const auto& weak : sessions_) {
    if (auto session = weak.lock()) session->Close();
  }
  sessions_.clear();
}

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Bind(); !s.ok()) return s;
  impl->Run();
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() { Stop(); }
uint16_t AdminServer::port() const { return impl_->port(); }
std::string AdminServer::address() const { return impl_->address(); }
void AdminServer::Stop() { impl_->Stop(); }

}  // namespace zs::http
