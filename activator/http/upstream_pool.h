// Part of stage 4, forward: idle keep-alive connections to replicas.
//
// One pool per proxy worker thread (as Envoy's per-worker connection pools):
// a worker's requests reuse that worker's connections, so the pool needs no
// lock. Connections are reused most-recently-idle first; one idle for a
// second or more is checked with a non-blocking peek before reuse (a replica
// that closed it is noticed then, not on the request). Connections close
// after Options::idle_timeout idle, or sooner when the replica said how long
// it keeps them (Keep-Alive: timeout=N: we stop at N - 1 s, or N/2 for N <= 2 s),
// or beyond Options::max_idle_per_endpoint.
//
// Why the short default (4 s): a replica that closes an idle connection at
// the moment we send a request on it makes that request fail with nothing
// read, and a POST then cannot be retried (it may have run). Reusing a
// connection only well inside the replica's idle timeout avoids the race;
// the common short timeouts are 5 s (Node.js, uvicorn), and Node announces
// its own. A replica that closes sooner without saying so still races.
//
// Connections are held and handed out by pointer: moving a Beast
// tcp_stream allocates a new stream state (its timers and socket), which
// at one take and one return per request was five heap allocations.
//
// Thread-safety: none; only the owning worker's thread touches it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/beast/core/tcp_stream.hpp>

#include "common/clock.h"

namespace zs::activator {

// A connection to a replica, owned by one exchange or by the pool.
using UpstreamStream = std::unique_ptr<boost::beast::tcp_stream>;

class UpstreamPool {
 public:
  struct Options {
    size_t max_idle_per_endpoint = 64;
    Duration idle_timeout = std::chrono::seconds(4);
  };
  UpstreamPool(Options options, const Clock& clock);

  // An idle connection to `address` that still looks open, or null.
  UpstreamStream Take(const std::string& address);
  // Returns a connection after a complete exchange; `keep_alive_hint` is the
  // replica's own idle timeout when its response announced one.
  void Put(const std::string& address, UpstreamStream stream,
           std::optional<Duration> keep_alive_hint = std::nullopt);
  // Closes connections idle too long or closed by the replica.
  void Sweep();
  void Clear();
  size_t idle() const;

 private:
  struct Idle {
    UpstreamStream stream;
    MonotonicTime since;
    MonotonicTime expires;
  };
  static bool LooksOpen(boost::beast::tcp_stream& stream);

  const Options options_;
  const Clock& clock_;
  std::unordered_map<std::string, std::vector<Idle>> idle_;
};

}  // namespace zs::activator
