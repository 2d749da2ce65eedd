// A tiny HTTP/1.1 server for the operational endpoints both binaries expose:
// /metrics (Prometheus text format), /healthz and /readyz.
//
// It is deliberately not the activator's data plane: one thread, one
// io_context, small requests only, no streaming. Operators and kubelets talk
// to it; functions' traffic never does.
//
// Lifecycle: AdminServer::Start() binds (so a bad address fails at startup,
// not later) and starts the server's own thread; port() reports the bound
// port (useful with ":0"); Stop() (or the destructor) closes the listener and
// every open connection and joins the thread.
//
// Thread-safety: Start/Stop from one owner thread. The readiness and liveness
// callbacks and the registries' Collect() run on the server thread, so they
// must be thread-safe with respect to the rest of the program.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prometheus {
class Collectable;
}

namespace zs::http {

struct BindAddress {
  std::string host;  // "0.0.0.0" when the address had no host (":8081")
  uint16_t port = 0;
};

// Parses controller-runtime style bind addresses: ":8081", "0.0.0.0:8081",
// "127.0.0.1:0", "[::1]:9090", "localhost:8081". "0" (disabled) is not an
// address; check IsDisabledAddress() first.
absl::StatusOr<BindAddress> ParseBindAddress(std::string_view text);
// controller-runtime's convention: "0" (or "") turns an endpoint off.
bool IsDisabledAddress(std::string_view text);

class AdminServer {
 public:
  struct Options {
    std::string bind_address = ":8081";
    // Serialized on every GET /metrics, in order. Empty: /metrics is 404.
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
    // /healthz: null means always healthy. A non-OK status answers 500 with
    // its message.
    std::function<absl::Status()> healthy;
    // /readyz: null means always ready. A non-OK status answers 503 with its
    // message (e.g. "no leader", "caches not synced").
    std::function<absl::Status()> ready;
  };

  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(Options options);

  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The port actually bound (differs from the requested one for port 0).
  uint16_t port() const;
  // "host:port" actually bound.
  std::string address() const;
  // Idempotent.
  void Stop();

  class Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zs::http
