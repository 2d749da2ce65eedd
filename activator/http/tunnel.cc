#include "activator/http/tunnel.h"

#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>

namespace zs::activator {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// Why one direction stopped.
struct PumpEnd {
  bool clean = false;      // the sender half-closed: passed on
  bool read_side = false;  // else the write failed
  error_code ec;
};

// Copies `in` to `out` until `in` ends (then half-closes `out`) or either fails.
asio::awaitable<PumpEnd> Pump(beast::tcp_stream& in, ReadBuffer& pending, beast::tcp_stream& out, char* buf,
                              size_t size, uint64_t& bytes) {
  error_code ec;
  if (pending.size() > 0) {
    const size_t n =
        co_await asio::async_write(out, pending.data(), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return PumpEnd{false, false, ec};
    bytes += n;
    pending.consume(pending.size());
  }
  for (;;) {
    const size_t n =
        co_await in.async_read_some(asio::buffer(buf, size), asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) {
      out.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return PumpEnd{true, true, {}};
    }
    if (ec) co_return PumpEnd{false, true, ec};
    co_await asio::async_write(out, asio::buffer(buf, n), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return PumpEnd{false, false, ec};
    bytes += n;
  }
}

}  // namespace

asio::awaitable<TunnelResult> Tunnel(beast::tcp_stream& client, ReadBuffer& client_buffer,
                                     beast::tcp_stream& replica, ReadBuffer& replica_buffer, Duration timeout,
                                     size_t buffer_bytes) {
  TunnelResult result;
  // Default-initialised, as the forward's relay buffers.
  std::unique_ptr<char[]> buffers(new char[2 * buffer_bytes]);
  const auto executor = co_await asio::this_coro::executor;
  // Neither stream has an operation pending: both timers take the deadline.
  client.expires_after(timeout);
  replica.expires_after(timeout);

  // The first failure decides the outcome; what it causes on the other
  // direction (we close both) says nothing more.
  bool failed = false;
  auto fail = [&](const PumpEnd& end, bool replica_side) {
    if (failed) return;
    failed = true;
    if (end.ec == beast::error::timeout) {
      result.end = TunnelResult::End::kTimedOut;
    } else if (replica_side) {
      result.end = TunnelResult::End::kReplicaFailed;
    }
    error_code ignored;
    client.socket().shutdown(tcp::socket::shutdown_both, ignored);
    replica.socket().shutdown(tcp::socket::shutdown_both, ignored);
    client.close();
    replica.close();
  };

  // Upstream direction beside this coroutine; it signals when it ends.
  bool up_running = true;
  asio::steady_timer up_done(executor);
  asio::co_spawn(
      executor,
      [&]() -> asio::awaitable<void> {
        const PumpEnd end =
            co_await Pump(client, client_buffer, replica, buffers.get(), buffer_bytes, result.bytes_in);
        // Reading the client or writing the replica: a write failure is the replica's.
        if (!end.clean) fail(end, /*replica_side=*/!end.read_side);
        up_running = false;
        up_done.cancel();
      },
      asio::detached);

  const PumpEnd down = co_await Pump(replica, replica_buffer, client, buffers.get() + buffer_bytes,
                                     buffer_bytes, result.bytes_out);
  if (!down.clean) fail(down, /*replica_side=*/down.read_side);
  while (up_running) {
    up_done.expires_at(asio::steady_timer::time_point::max());
    error_code ignored;
    co_await up_done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  client.expires_never();
  replica.expires_never();
  co_return result;
}

}  // namespace zs::activator
