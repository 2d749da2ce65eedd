// Part of stage 4, forward: idle keep-alive connections to replicas.
//
// One pool per proxy worker thread (as Envoy's per-worker connection pools):
// a worker's requests reuse that worker's connections, so the pool needs no
// lock. Connections are reused most-recently-idle first; one idle for a
// second or more is checked with a non-blocking peek before reuse (a replica
// that closed it is noticed then, not on the request). Connections close
// after Options::idle_timeout idle or beyond Options::max_idle_per_endpoint.
//
// Thread-safety: none; only the owning worker's thread touches it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/beast/core/tcp_stream.hpp>

#include "common/clock.h"

namespace zs::activator {

class UpstreamPool {
 public:
  struct Options {
    size_t max_idle_per_endpoint = 64;
    Duration idle_timeout = std::chrono::seconds(30);
  };
  UpstreamPool(Options options, const Clock& clock);

  // An idle connection to `address` that still looks open, or nullopt.
  std::optional<boost::beast::tcp_stream> Take(const std::string& address);
  // Returns a connection after a complete exchange.
  void Put(const std::string& address, boost::beast::tcp_stream stream);
  // Closes connections idle too long or closed by the replica.
  void Sweep();
  void Clear();
  size_t idle() const;

 private:
  struct Idle {
    boost::beast::tcp_stream stream;
    MonotonicTime since;
  };
  static bool LooksOpen(boost::beast::tcp_stream& stream);

  const Options options_;
  const Clock& clock_;
  std::unordered_map<std::string, std::vector<Idle>> idle_;
};

}  // namespace zs::activator
