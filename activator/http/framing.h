// The one owner of HTTP/1.1 message framing on the data path (RFC 9112 §6,
// §9.3): which request heads may be forwarded at all, how each body is
// delimited on the hop it goes out on, and whether a connection may carry
// another message afterwards. The proxy and the forward stage ask these
// functions; nothing else decides framing or reuse.
//
// Requests (CheckRequestFraming):
//   - Transfer-Encoding must be exactly `chunked` (one field, one coding).
//     A list whose last coding is not `chunked` has no knowable length: 400.
//     Any other coding (`gzip, chunked`, `xchunked`, ...) is one we do not
//     forward: 501. HTTP/1.0 with Transfer-Encoding: 400.
//   - Transfer-Encoding and Content-Length together: 400 (never both
//     forwarded; the smuggling vector of RFC 9112 §6.3 point 3).
//   - Content-Length: every value in every field line must be the same
//     decimal number; it is normalised to one field with that number.
//   - HTTP/1.1 needs exactly one Host; HTTP/1.0 at most one: else 400.
//   - obs-fold is unfolded by the parser into single spaces, so what is
//     checked is what is forwarded; a field value with CR, LF or NUL left in
//     it is refused (400).
//
// Responses (FrameResponseForClient): a replica's body is framed for the
// client by length, by chunks, or by closing the connection (HTTP/1.0
// clients, or a close-delimited body for which no length is known); the
// replica's own Transfer-Encoding must be exactly `chunked` or absent.
//
// Upgrades (UpgradeToForward): an HTTP/1.1 request without a body whose
// Connection names `upgrade` and that has an Upgrade field (a WebSocket
// handshake) is forwarded with them; a replica's 101 to it turns the
// exchange into a byte tunnel (tunnel.h). Any other request loses Upgrade
// as a hop-by-hop field, and a 101 to it is a replica fault.
//
// Reuse: a replica connection is pooled only after a complete exchange whose
// response was delimited by length or chunks (never close-delimited, never
// after an early response that left the request body unsent), with no stray
// bytes behind it; a client connection serves another request only when its
// request body was read to the end and the response did not end by close.
//
// Thread-safety: pure functions over one message; call from anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "activator/errors.h"
#include "activator/http/http_types.h"
#include "common/clock.h"

namespace zs::activator {

// Bounds on what the parser may hold in memory beyond the head: one chunk
// header line (size and extensions) or the whole trailer section. Past it
// the message is refused (400) instead of buffered.
inline constexpr size_t kMaxChunkHeaderBytes = size_t{64} * 1024;
// A replica's response head may be this large.
inline constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;
// The largest read the relay makes (Beast reads at most this much at once).
inline constexpr size_t kReadChunkBytes = size_t{64} * 1024;

// The bound of a read buffer that must hold a head of up to
// `max_header_bytes`, then one read of body bytes plus a chunk header line.
inline size_t ReadBufferLimit(size_t max_header_bytes) {
  return max_header_bytes + kReadChunkBytes + kMaxChunkHeaderBytes;
}

// Checks (and normalises) a client's request head before it is routed.
// kNone, kBadRequest (400) or kNotImplemented (501).
ProxyError CheckRequestFraming(Request& request);

// The Upgrade value to forward with `request` (already checked by
// CheckRequestFraming), or "" when it is not passed on as an upgrade: not
// HTTP/1.1, no `upgrade` token in Connection, no Upgrade field, or a body
// (Transfer-Encoding, or a Content-Length other than 0) that would have to
// be relayed before the switch.
std::string UpgradeToForward(const Request& request);

// How a response body reaches the client.
enum class ClientBodyFraming {
  kNone,     // no body: HEAD, 1xx, 204, 304
  kLength,   // Content-Length as the replica sent it
  kChunked,  // chunked: the replica's chunks, or a close-delimited body re-chunked
  kClose,    // raw bytes ended by closing the client connection (HTTP/1.0 client)
};

struct ResponseFraming {
  // The replica's response cannot be relayed (an unsupported transfer coding).
  bool malformed = false;
  ClientBodyFraming client = ClientBodyFraming::kNone;
  // The replica ends the body by closing: its connection is never pooled.
  bool upstream_close_delimited = false;
};

// Decides the client-side framing of `response` (the replica's head as
// parsed, before PrepareClientResponse rewrote it) and sets the head's
// Content-Length / Transfer-Encoding for it. `parsed_length` is the length
// the parser agreed on (ResponseParser::content_length()); `head_request`:
// the client's method was HEAD (no body follows whatever the head says).
ResponseFraming FrameResponseForClient(Response& response, std::optional<uint64_t> parsed_length,
                                       unsigned client_version, bool head_request);

// Whether the replica connection may go back to the pool after an exchange.
struct UpstreamExchangeState {
  bool response_complete = false;    // the response body was read to its end
  bool response_keep_alive = false;  // the replica did not say close
  bool close_delimited = false;      // the response ended by the replica closing
  bool request_complete = false;     // the whole request body was sent
  bool stray_bytes = false;          // bytes after the response in our buffer
  bool switched_protocols = false;   // 101
};
bool UpstreamReusable(const UpstreamExchangeState& state);

// How long a replica keeps an idle connection open, when its response said
// so (`Keep-Alive: timeout=N`, as Node.js sends by default); read it before
// the head is rewritten. The pool stops reusing the connection well before.
std::optional<Duration> KeepAliveTimeoutHint(const Response& response);

// Whether the client connection may serve another request.
bool ClientReusable(bool request_body_read, bool keep_alive_wanted, ClientBodyFraming framing);

}  // namespace zs::activator
