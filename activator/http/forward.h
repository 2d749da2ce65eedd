// Stage 4, forward: relays one admitted request to its replica and the
// response back, streaming both bodies through fixed buffers (never holding a
// body whole), and enforcing the Function's execution timeout.
//
// The timeout runs from the start of the forward (connect included) to the
// last response byte, and covers relaying the request body and writing the
// response to the client: the whole exchange must fit in timeoutSeconds.
// Past it, a client that got no response head yet gets 504, otherwise its
// connection is closed; either way the replica connection is closed, never
// pooled.
//
// Full duplex: the request body is relayed beside the response, so a
// function may stream its answer while still reading (an echo), or answer
// before reading the body at all (an early 413); the unread rest of the
// request then ends the exchange: the replica connection is not pooled, and
// the client connection is closed after the answer.
//
// Retries (only what cannot have run): a connect that fails (refused,
// unreachable, timed out) reports connect_failed with nothing sent and
// nothing read from the client, so the caller may try another replica; a
// pooled connection that fails while the head is written is replaced by a
// fresh one; one that the replica closed before any response byte is retried
// on a fresh connection only for an idempotent method without a body. A POST
// that may have reached the function is never sent twice.
//
// Upgrades: a request carrying `upgrade` (framing.h's UpgradeToForward) is
// sent with its Upgrade field; the replica's 101 is relayed and the rest of
// both connections becomes a byte tunnel (tunnel.h) until either side ends
// it or timeoutSeconds passes. Any other answer is relayed as usual.
//
// Slow request bodies: while the body is relayed, a client that sends no
// byte for `client_body_timeout` is cut (kClientBodyTimeout: 408 if no
// response head went out, else the connection is closed), so a trickling
// client holds a replica slot no longer than that between two reads.
//
// Runs on the calling connection's worker thread; uses that worker's pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "activator/admission/endpoints.h"
#include "activator/errors.h"
#include "activator/http/http_types.h"
#include "activator/http/upstream_pool.h"
#include "common/clock.h"

namespace zs::activator {

struct ForwardSettings {
  Duration connect_timeout = std::chrono::seconds(3);
  // Each direction relays through one buffer of this size.
  size_t relay_buffer_bytes = size_t{32} * 1024;
  // Longest wait for the next byte of a request body being relayed; 0 = none.
  Duration client_body_timeout = std::chrono::seconds(10);
};

// Lets the proxy end an exchange from outside (the drain deadline): Cut()
// marks it and closes the replica connection in use, which ends every wait
// of the forward; the forward then reports kDrainCut (or connect_failed when
// nothing was sent yet). Touched only on the connection's worker thread.
class ExchangeCut {
 public:
  void Cut();
  bool cut() const { return cut_; }
  // Forward registers the replica connection it uses, and clears it.
  void Watch(UpstreamStream* upstream) { upstream_ = upstream; }

 private:
  bool cut_ = false;
  UpstreamStream* upstream_ = nullptr;
};

// The client side of the exchange: its stream, read buffer and the parser
// holding the (already rewritten) request head.
struct ClientExchange {
  boost::beast::tcp_stream& stream;
  ReadBuffer& buffer;
  RequestParser& parser;
  std::string_view request_id;
  unsigned version = 11;
  bool head_request = false;
  // Whether the client asked for keep-alive.
  bool keep_alive = true;
  // Set when the proxy starts draining: the response then says close.
  const std::atomic<bool>* draining = nullptr;
  // The client sent Expect: 100-continue; set once the interim response went out.
  bool expect_continue = false;
  bool continue_sent = false;
  // GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 §9.2.2): may be retried.
  bool idempotent = false;
  // The Upgrade value forwarded (the head already carries it); "" = none.
  std::string_view upgrade = {};
  // Set by the proxy; may be null.
  ExchangeCut* cut = nullptr;
};

struct ForwardResult {
  // Nothing was sent and nothing consumed: the caller may try another replica.
  bool connect_failed = false;
  ProxyError error = ProxyError::kNone;
  // Status of the response head sent to the client; 0 if none was.
  int status = 0;
  bool response_started = false;
  // The client connection may serve another request.
  bool client_reusable = false;
  // The request body was read to its end (else unread bytes may still come:
  // close the client connection gracefully).
  bool request_body_read = false;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

// Relay buffers are reused by the thread that ran an exchange, so that a
// steady stream of requests allocates none; at most 64 stay idle per
// thread. Called by each worker's periodic sweep on its own thread: frees
// the idle buffers that no exchange needed since the previous call.
void TrimRelayBuffers();

boost::asio::awaitable<ForwardResult> Forward(UpstreamPool& pool, ClientExchange& client,
                                              const EndpointSlot& endpoint, Duration timeout,
                                              const ForwardSettings& settings, const Clock& clock);

}  // namespace zs::activator
