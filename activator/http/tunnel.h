// Part of stage 4, forward: the rest of a connection after a replica's 101
// Switching Protocols (a WebSocket, or any protocol named by Upgrade). From
// then on the activator relays raw bytes both ways and understands none of
// them.
//
// Bytes already read past either head (in the read buffers) go first. An
// end of stream in one direction is passed on as a half-close (shutdown of
// our sending side towards the other peer) and the other direction goes on,
// so a closing handshake of the upgraded protocol completes. Any failure
// closes both connections. The whole tunnel ends by `deadline`: the
// Function's timeoutSeconds, which bounds the exchange from the forward on.
//
// Runs on the calling connection's worker thread; returns when both
// directions have ended (both sockets are closed then, unless both ended
// cleanly by the peers' half-closes).
#pragma once

#include <cstdint>
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "activator/http/http_types.h"
#include "common/clock.h"

namespace zs::activator {

struct TunnelResult {
  enum class End {
    kClosed,         // the peers ended it (closes, or the client went away)
    kTimedOut,       // still open at the deadline: both sides closed
    kReplicaFailed,  // the replica reset or failed first
  };
  End end = End::kClosed;
  uint64_t bytes_in = 0;   // client to replica
  uint64_t bytes_out = 0;  // replica to client
};

// `client_buffer` / `replica_buffer` hold what was read past the request and
// response heads; `buffer_bytes` is the size of each direction's relay buffer.
boost::asio::awaitable<TunnelResult> Tunnel(boost::beast::tcp_stream& client, ReadBuffer& client_buffer,
                                            boost::beast::tcp_stream& replica, ReadBuffer& replica_buffer,
                                            Duration timeout, size_t buffer_bytes);

}  // namespace zs::activator
