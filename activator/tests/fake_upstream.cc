#include "activator/tests/fake_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace zs::activator::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string QueryValue(const std::string& target, const std::string& key) {
  const auto q = target.find('?');
  if (q == std::string::npos) return "";
  const std::string query = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    const auto amp = query.find('&', pos);
    const std::string pair = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    const auto eq = pair.find('=');
    if (eq != std::string::npos && pair.substr(0, eq) == key) return pair.substr(eq + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

std::string PathOf(const std::string& target) { return target.substr(0, target.find('?')); }

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

FakeUpstream::FakeUpstream() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 4096) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::system_error(errno, std::generic_category(), "fake upstream: listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeUpstream::~FakeUpstream() { Stop(); }

void FakeUpstream::Release() {
  std::lock_guard lock(mu_);
  gate_open_ = true;
  gate_cv_.notify_all();
}

void FakeUpstream::Stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::list<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    gate_open_ = true;
    gate_cv_.notify_all();
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void FakeUpstream::AcceptLoop() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_.load()) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    connections_.fetch_add(1);
    std::lock_guard lock(mu_);
    if (stopping_.load()) {
      ::close(fd);
      return;
    }
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

int FakeUpstream::hits(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = hits_.find(path);
  return it == hits_.end() ? 0 : it->second;
}

void FakeUpstream::Serve(int fd) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.assign(tcp::v4(), fd, ec);
  socket.set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buffer;
  auto finish = [&] {
    std::lock_guard lock(mu_);
    open_fds_.remove(fd);
  };
  for (;;) {
    bhttp::request_parser<bhttp::buffer_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    bhttp::read_header(socket, buffer, parser, ec);
    if (ec) break;
    int64_t none = 0;
    first_request_ns_.compare_exchange_strong(none,
                                              std::chrono::steady_clock::now().time_since_epoch().count());
    requests_.fetch_add(1);
    const int now = in_flight_.fetch_add(1) + 1;
    int peak = peak_in_flight_.load();
    while (now > peak && !peak_in_flight_.compare_exchange_weak(peak, now)) {
    }
    auto& req = parser.get();
    const std::string target(req.target());
    const std::string path = PathOf(target);
    {
      std::lock_guard lock(mu_);
      ++hits_[path];
    }
    const bool count_only = path == "/count";
    if (path == "/early-413") {
      // Refuses the body before reading it, then closes with it unread (the
      // kernel answers the rest with a reset), as servers with a body limit do.
      const std::string answer =
          "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large";
      asio::write(socket, asio::buffer(answer), ec);
      in_flight_.fetch_sub(1);
      break;
    }
    std::string body;
    uint64_t body_bytes = 0;
    char chunk[16384];
    while (!parser.is_done()) {
      req.body().data = chunk;
      req.body().size = sizeof(chunk);
      bhttp::read_some(socket, buffer, parser, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) break;
      const size_t n = sizeof(chunk) - req.body().size;
      body_bytes += n;
      if (count_only) {
        counted_bytes_.fetch_add(n);
      } else {
        body.append(chunk, n);
      }
    }
    if (ec) {
      in_flight_.fetch_sub(1);
      break;
    }

    bhttp::response<bhttp::string_body> res(bhttp::status::ok, 11);
    res.set("X-Seen-Target", target);
    res.set("X-Seen-Forwarded-For", req["X-Forwarded-For"]);
    res.set("X-Seen-Request-Id", req["X-Request-Id"]);
    res.set("X-Seen-Forwarded-Host", req["X-Forwarded-Host"]);
    res.set("X-Seen-Forwarded-Proto", req["X-Forwarded-Proto"]);
    res.set("X-Seen-Expect", req[bhttp::field::expect]);
    res.set("X-Seen-Proxy-Authorization", req[bhttp::field::proxy_authorization]);
    res.set("X-Seen-Content-Length", req[bhttp::field::content_length]);
    res.set("X-Seen-Transfer-Encoding", req[bhttp::field::transfer_encoding]);
    res.set("X-Seen-Folded", req["X-Folded"]);
    res.set("X-Seen-Upgrade", req[bhttp::field::upgrade]);
    res.set("X-Seen-Connection", req[bhttp::field::connection]);
    res.keep_alive(req.keep_alive());

    bool close_after = !req.keep_alive();
    if (path == "/hang") {
      char byte;
      // Waits for the activator to give up on us and close the connection.
      while (true) {
        const auto n = ::recv(fd, &byte, 1, 0);
        if (n <= 0) break;
      }
      if (!stopping_.load()) hangs_closed_.fetch_add(1);
      in_flight_.fetch_sub(1);
      break;
    }
    if (path == "/close-without-answer") {
      in_flight_.fetch_sub(1);
      break;  // the request "ran"; the answer never comes
    }
    if (path == "/close-delimited" || path == "/gzip-coded") {
      // HTTP/1.0 style (Python's http.server): no length, no chunks; the
      // close ends the body.
      std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
      if (path == "/gzip-coded") head += "Transfer-Encoding: gzip\r\n";
      asio::write(socket, asio::buffer(head + "\r\nbody ended by close"), ec);
      in_flight_.fetch_sub(1);
      break;
    }
    if (path == "/reset") {
      linger lin{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
      in_flight_.fetch_sub(1);
      break;  // close with linger 0 sends RST
    }
    if (path == "/switch") {
      // Switches protocols whether or not it was asked to.
      asio::write(socket,
                  asio::buffer(std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                                           "Connection: upgrade\r\n\r\n")),
                  ec);
      in_flight_.fetch_sub(1);
      break;
    }
    if (path == "/hang-mid-body") {
      // A response that started and then stalls until the peer closes.
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789";
      asio::write(socket, asio::buffer(head), ec);
      char byte;
      while (::recv(fd, &byte, 1, 0) > 0) {
      }
      if (!stopping_.load()) hangs_closed_.fetch_add(1);
      in_flight_.fetch_sub(1);
      break;
    }
    if (path == "/close-mid-body") {
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789";
      asio::write(socket, asio::buffer(head), ec);
      in_flight_.fetch_sub(1);
      break;
    }
    if (path == "/gate") {
      std::unique_lock lock(mu_);
      gate_cv_.wait(lock, [&] { return gate_open_; });
    }
    if (StartsWith(path, "/chunked-echo") || path == "/stream") {
      bhttp::response<bhttp::empty_body> head(bhttp::status::ok, 11);
      for (const auto& field : res) head.set(field.name_string(), field.value());
      head.chunked(true);
      bhttp::response_serializer<bhttp::empty_body> sr(head);
      bhttp::write_header(socket, sr, ec);
      if (path == "/stream") {
        uint64_t left = std::stoull(QueryValue(target, "bytes").empty() ? "0" : QueryValue(target, "bytes"));
        const std::string piece(size_t{64} * 1024, 'x');
        while (left > 0 && !ec) {
          const size_t n = static_cast<size_t>(std::min<uint64_t>(left, piece.size()));
          asio::write(socket, bhttp::make_chunk(asio::buffer(piece.data(), n)), ec);
          left -= n;
        }
      } else {
        const size_t third = body.size() / 3;
        const std::string parts[3] = {body.substr(0, third), body.substr(third, third),
                                      body.substr(2 * third)};
        for (const auto& part : parts) {
          if (!part.empty()) asio::write(socket, bhttp::make_chunk(asio::buffer(part)), ec);
        }
      }
      if (!ec) asio::write(socket, bhttp::make_chunk_last(), ec);
      in_flight_.fetch_sub(1);
      if (ec || close_after) break;
      continue;
    }
    if (StartsWith(path, "/echo")) {
      res.body() = body;
    } else if (count_only) {
      res.body() = std::to_string(body_bytes);
    } else if (path == "/status") {
      res.result(static_cast<unsigned>(std::stoi(QueryValue(target, "code"))));
    } else {
      res.body() = "ok";
    }
    res.prepare_payload();
    // No longer in flight once its whole answer is ready to go out: the
    // proxy can read it and send the next request (to another connection)
    // before this write() returns, which counted as one too many (a cap of 2
    // measured as a peak of 3), as fn-echo's counting once did.
    in_flight_.fetch_sub(1);
    bhttp::write(socket, res, ec);
    if (ec || close_after) break;
  }
  finish();
  socket.close(ec);
}

}  // namespace zs::activator::testing
