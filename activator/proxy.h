// The activator's HTTP/1.1 reverse proxy: accepts client connections and runs
// each request through the stages lookup -> buffer -> balance -> forward ->
// meter. With several activators, a request for a capped Function that
// another activator owns is relayed to it right after lookup
// (admission/placement.h); the owner runs the stages.
//
// Threads: `threads` workers, each an io_context run by one thread (as
// Envoy's workers); a connection lives on one worker, and so does its pool of
// replica connections. The listener runs on worker 0 and hands connections
// out round-robin. The buffer's Tick runs on worker 0 every tick_interval.
//
// Client connections: HTTP/1.1 keep-alive (HTTP/1.0 too), pipelining in
// order, head size limit (431), body size limit (413, on Content-Length up
// front and while streaming), header_read_timeout from the first byte of a
// head to its end (a slowloris client is closed and counted), idle_timeout
// between requests, malformed -> 400. Every error answer closes the
// connection unless the request was fully read.
//
// Lifecycle: Start() binds and runs; Shutdown(drain) stops accepting, closes
// idle keep-alive connections, lets requests in flight and in the buffer
// finish for up to `drain`, then answers what is still buffered with 503,
// closes what is left and stops the threads. The destructor does a
// Shutdown(0) if none was done.
//
// Thread-safety: Start/Shutdown from one owner thread; port() and
// open_connections() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "activator/admission/buffer.h"
#include "activator/admission/catalog.h"
#include "activator/admission/placement.h"
#include "activator/http/forward.h"
#include "activator/http/parse.h"
#include "activator/metering/meter.h"
#include "common/clock.h"

namespace zs::activator {

struct ProxyOptions {
  std::string bind_address = ":8000";
  int threads = 1;
  ParseLimits limits;
  std::chrono::milliseconds header_read_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  // Routing by Host: <name>.<namespace>.<domain>; empty disables it.
  std::string domain = "fn.zeroscale.internal";
  ForwardSettings forward;
  std::chrono::milliseconds tick_interval{10};
  size_t max_idle_upstream_per_endpoint = 64;
  std::chrono::milliseconds upstream_idle_timeout{4'000};
};

struct ProxyDeps {
  const FunctionCatalog& catalog;
  RequestBuffer& buffer;
  Meter& meter;
  const Clock& clock;
  // Several activators: who serves capped Functions (placement.h); null:
  // this activator serves everything.
  const Placement* placement = nullptr;
};

class Proxy {
 public:
  static absl::StatusOr<std::unique_ptr<Proxy>> Start(ProxyOptions options, ProxyDeps deps);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  uint16_t port() const;
  int64_t open_connections() const;
  // Graceful stop; see the class comment. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);

  class Impl;

 private:
  explicit Proxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zs::activator
