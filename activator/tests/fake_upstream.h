// A function replica for socket tests: a blocking Beast server on 127.0.0.1
// with one thread per connection and behaviour chosen by path:
//
//   /echo...            200, body = request body, Content-Length
//   /chunked-echo...    200, body = request body, sent in 3 chunks
//   /count              200, body = number of request body bytes (streamed, not kept)
//   /stream?bytes=N     200, N bytes of 'x', chunked, in 64 KiB pieces
//   /status?code=N      N, empty body
//   /hang               reads the request, sends nothing, waits for the peer to close
//   /reset              reads the request, then resets the connection (RST)
//   /close-mid-body     200 with Content-Length 1000, sends 10 bytes, closes
//   /hang-mid-body      200 with Content-Length 1000, sends 10 bytes, waits for the peer to close
//   /switch             101 Switching Protocols (asked for or not), then closes
//   /gate               holds the response until Release() (concurrency tests)
//   /early-413          413 before reading the body, then closes (body unread)
//   /close-delimited    200 with neither length nor chunks; the close ends the body
//   /gzip-coded         as /close-delimited with Transfer-Encoding: gzip
//   /close-without-answer  reads the request and closes without answering
//   anything else       200 "ok"
//
// Every response carries X-Seen-Target, X-Seen-Forwarded-For,
// X-Seen-Request-Id, X-Seen-Forwarded-Host, X-Seen-Forwarded-Proto,
// X-Seen-Proxy-Authorization, X-Seen-Content-Length, X-Seen-Transfer-Encoding,
// X-Seen-Upgrade, X-Seen-Connection and X-Seen-Folded (the value of X-Folded).
//
// Thread-safety: counters are atomics; Stop() joins everything.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace zs::activator::testing {

class FakeUpstream {
 public:
  FakeUpstream();
  ~FakeUpstream();

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  // Bytes of request body seen by /count so far (across requests).
  uint64_t counted_bytes() const { return counted_bytes_.load(); }
  // Connections the peer (the activator) closed while /hang or /hang-mid-body waited.
  int hangs_closed_by_peer() const { return hangs_closed_.load(); }
  int in_flight() const { return in_flight_.load(); }
  // When the first request head was read (steady clock ns since epoch; 0: none yet).
  int64_t first_request_ns() const { return first_request_ns_.load(); }
  int peak_in_flight() const { return peak_in_flight_.load(); }
  // Request heads read for `path` (without query).
  int hits(const std::string& path) const;
  // Lets every /gate request (held or future) answer.
  void Release();

  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::map<std::string, int> hits_;
  std::list<std::thread> threads_;
  std::list<int> open_fds_;
  std::condition_variable gate_cv_;
  bool gate_open_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<uint64_t> counted_bytes_{0};
  std::atomic<int> hangs_closed_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> peak_in_flight_{0};
  std::atomic<int64_t> first_request_ns_{0};
};

}  // namespace zs::activator::testing
