// fn-echo: the example function server used as the image in tests,
// benchmarks (the "direct" baseline) and the demo.
//
// Every path answers 200 with a JSON description of the request, except a
// plain `GET /` ("hello from fn-echo\n", cheap for benchmarks) and
// `GET /healthz`. Controls, as query parameters or headers:
//   ?delay_ms=N  | X-Delay-Ms: N   wait N ms (async timer) before answering
//   ?status=N    | X-Status: N     answer with status N
//   ?bytes=N     | X-Bytes: N      answer with an N-byte body, streamed
//   ?echo=1      | X-Echo: 1       stream the request body back
// A WebSocket handshake (`Upgrade: websocket`, any path) is accepted and
// every message is echoed back (text as text, binary as binary) until the
// client closes; an open WebSocket counts as a request in flight.
// `GET /stats` answers {"in_flight" (besides itself), "peak_in_flight",
// "requests"} (for tests that check what a replica saw at once). A request
// is in flight from its head being read until its answer starts going out
// (a streamed answer: until it ends).
//
// Every valid request gets an answer: bytes that are not UTF-8 (obs-text in
// a field value) are replaced in the JSON description; a request that cannot
// be answered closes the connection.
//
// Lifecycle: construct, Start() (binds and serves on its own threads),
// Shutdown() (stop accepting, close idle keep-alive connections, let
// in-flight requests finish), Wait() (joins the threads once all connections
// are gone). The destructor does Shutdown() + Wait().
// Thread-safety: Start/Shutdown/Wait from one controlling thread;
// port() from any thread after Start().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace zs::fnecho {

struct Options {
  std::string address = "0.0.0.0";
  int port = 8080;  // 0 = any free port; see Server::port()
  int threads = 2;
  // Reported as "pod" in echo responses ($HOSTNAME or $POD_NAME).
  std::string pod;
  // How long an idle keep-alive connection stays open (Node.js: 5 s).
  std::chrono::milliseconds keepalive_timeout{120'000};
  // Announce it in a `Keep-Alive: timeout=N` response field, as Node.js does.
  bool announce_keepalive = false;
};

class Server {
 public:
  explicit Server(Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the worker threads.
  absl::Status Start();
  // The bound port (the real one when Options::port was 0).
  int port() const;
  // Stops accepting; idle connections are closed, busy ones close after
  // their current response. Idempotent.
  void Shutdown();
  // Blocks until every connection has finished and the threads exited.
  void Wait();
  // Requests read but not yet fully answered; lets tests wait for a request
  // to be in flight without sleeping.
  int in_flight() const;
  // The most requests ever in flight at once (GET /stats reports it too).
  int peak_in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zs::fnecho
