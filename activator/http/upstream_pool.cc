#include "activator/http/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace zs::activator {

UpstreamPool::UpstreamPool(Options options, const Clock& clock) : options_(options), clock_(clock) {}

bool UpstreamPool::LooksOpen(boost::beast::tcp_stream& stream) {
  char byte;
  const ssize_t n = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // Nothing to read is the healthy case; EOF, an error or stray bytes (a
  // response nobody asked for) all make the connection unusable.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

UpstreamStream UpstreamPool::Take(const std::string& address) {
  auto it = idle_.find(address);
  if (it == idle_.end()) return nullptr;
  auto& stack = it->second;
  const MonotonicTime now = clock_.Now();
  while (!stack.empty()) {
    Idle& top = stack.back();
    const Duration idle_for = now - top.since;
    // A connection idle for under a second is taken without the peek (a
    // syscall per request); a replica closing it that soon is rare, and an
    // idempotent bodiless request is retried on a fresh connection if it did.
    if (now < top.expires && (idle_for < std::chrono::seconds(1) || LooksOpen(*top.stream))) {
      UpstreamStream out = std::move(top.stream);
      stack.pop_back();
      // An empty stack stays until Sweep: a replica served one request at a
      // time would otherwise free and rebuild its entry on every request.
      return out;
    }
    boost::system::error_code ignored;
    top.stream->socket().close(ignored);
    stack.pop_back();
  }
  return nullptr;
}

void UpstreamPool::Put(const std::string& address, UpstreamStream stream,
                       std::optional<Duration> keep_alive_hint) {
  Duration keep_for = options_.idle_timeout;
  if (keep_alive_hint) {
    const Duration margin =
        *keep_alive_hint > std::chrono::seconds(2) ? std::chrono::seconds(1) : *keep_alive_hint / 2;
    keep_for = std::min(keep_for, *keep_alive_hint - margin);
  }
  auto& stack = idle_[address];
  if (keep_for <= Duration{0} || stack.size() >= options_.max_idle_per_endpoint) {
    boost::system::error_code ignored;
    stream->socket().close(ignored);
    if (stack.empty()) idle_.erase(address);
    return;
  }
  stream->expires_never();
  const MonotonicTime now = clock_.Now();
  stack.push_back(Idle{std::move(stream), now, now + keep_for});
}

void UpstreamPool::Sweep() {
  const MonotonicTime now = clock_.Now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& stack = it->second;
    std::vector<Idle> kept;
    kept.reserve(stack.size());
    for (auto& idle : stack) {
      if (now < idle.expires && LooksOpen(*idle.stream)) {
        kept.push_back(std::move(idle));
      } else {
        boost::system::error_code ignored;
        idle.stream->socket().close(ignored);
      }
    }
    if (kept.empty()) {
      it = idle_.erase(it);
    } else {
      stack = std::move(kept);
      ++it;
    }
  }
}

void UpstreamPool::Clear() {
  for (auto& [address, stack] : idle_) {
    for (auto& idle : stack) {
      boost::system::error_code ignored;
      idle.stream->socket().close(ignored);
    }
  }
  idle_.clear();
}

size_t UpstreamPool::idle() const {
  size_t n = 0;
  for (const auto& [address, stack] : idle_) n += stack.size();
  return n;
}

}  // namespace zs::activator
