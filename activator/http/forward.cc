#include "activator/http/forward.h"

#include <limits>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "activator/http/headers.h"
#include "activator/http/parse.h"

namespace zs::activator {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

enum class Side { kNone, kRead, kWrite };

struct RelayFailure {
  Side side = Side::kNone;
  error_code ec;
};

// Moves a body from `in` to `out` as it arrives: each read_some of the parser
// fills at most `size` bytes of `buf`, which are written before the next read.
// The serializer's head must already be written, or be written with the
// first chunk. Call only while the parser is not done.
template <bool kIsRequest>
asio::awaitable<RelayFailure> RelayBody(beast::tcp_stream& in, beast::flat_buffer& in_buffer,
                                        bhttp::parser<kIsRequest, bhttp::buffer_body>& parser,
                                        beast::tcp_stream& out,
                                        bhttp::serializer<kIsRequest, bhttp::buffer_body>& serializer,
                                        char* buf, size_t size, uint64_t& bytes) {
  error_code ec;
  auto& body = parser.get().body();
  while (!parser.is_done()) {
    body.data = buf;
    body.size = size;
    co_await bhttp::async_read_some(in, in_buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return RelayFailure{Side::kRead, ec};
    const size_t n = size - body.size;
    // No data must be a null buffer: a zero-length one would be framed as a
    // chunk of its own ("0\r\n\r\n"), i.e. a second last-chunk.
    body.data = n > 0 ? buf : nullptr;
    body.size = n;
    body.more = !parser.is_done();
    bytes += n;
    if (n == 0 && body.more) continue;
    co_await bhttp::async_write(out, serializer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return RelayFailure{Side::kWrite, ec};
  }
  // The last write had more == false, which also ended a chunked body; the
  // serializer needs no further call (another would emit a second last-chunk).
  co_return RelayFailure{};
}

bool IsTimeout(const error_code& ec) { return ec == beast::error::timeout; }

// A pooled connection the replica had already closed shows up as one of these
// before any response byte.
bool IsStaleConnection(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

}  // namespace

asio::awaitable<ForwardResult> Forward(UpstreamPool& pool, ClientExchange& client,
                                       const EndpointSlot& endpoint, Duration timeout,
                                       const ForwardSettings& settings, const Clock& clock) {
  ForwardResult result;
  const MonotonicTime start = clock.Now();
  auto remaining = [&]() -> Duration {
    const Duration left = timeout - (clock.Now() - start);
    return left > Duration{0} ? left : Duration{1};
  };
  const bool request_has_body = !client.parser.is_done();
  error_code ec;

  error_code address_ec;
  const auto ip = asio::ip::make_address(endpoint.endpoint().ip, address_ec);
  if (address_ec) {
    result.connect_failed = true;
    co_return result;
  }
  const tcp::endpoint target(ip, endpoint.endpoint().port);

  // Default-initialised: make_unique<char[]> would zero 64 KiB per request.
  std::unique_ptr<char[]> buffers(new char[2 * settings.relay_buffer_bytes]);
  char* request_buf = buffers.get();
  char* response_buf = buffers.get() + settings.relay_buffer_bytes;

  std::optional<beast::tcp_stream> upstream;
  std::optional<ResponseParser> response;
  beast::flat_buffer upstream_buffer;
  for (int attempt = 0;; ++attempt) {
    upstream.reset();
    bool reused = false;
    if (attempt == 0) {
      if (auto idle = pool.Take(endpoint.address())) {
        upstream.emplace(std::move(*idle));
        reused = true;
      }
    }
    if (!upstream) {
      upstream.emplace(co_await asio::this_coro::executor);
      upstream->expires_after(std::min<Duration>(settings.connect_timeout, remaining()));
      co_await upstream->async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        result.connect_failed = true;
        co_return result;
      }
      upstream->socket().set_option(tcp::no_delay(true), ec);
    }
    upstream->expires_after(remaining());

    if (client.expect_continue && !client.continue_sent && request_has_body) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      client.stream.expires_after(remaining());
      co_await asio::async_write(client.stream, asio::buffer(kContinue, sizeof(kContinue) - 1),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        result.error = IsTimeout(ec) ? ProxyError::kExecTimeout : ProxyError::kClientClosed;
        co_return result;
      }
      client.continue_sent = true;
    }

    bhttp::request_serializer<bhttp::buffer_body> request_serializer(client.parser.get());
    co_await bhttp::async_write_header(*upstream, request_serializer,
                                       asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (reused && !IsTimeout(ec)) continue;  // dead pooled connection: nothing consumed yet
      result.error = IsTimeout(ec) ? ProxyError::kExecTimeout : ProxyError::kUpstreamError;
      co_return result;
    }

    if (request_has_body) {
      client.stream.expires_after(remaining());
      const RelayFailure failure =
          co_await RelayBody(client.stream, client.buffer, client.parser, *upstream, request_serializer,
                             request_buf, settings.relay_buffer_bytes, result.bytes_in);
      if (failure.side == Side::kRead) {
        if (IsTimeout(failure.ec)) {
          result.error = ProxyError::kExecTimeout;
        } else if (IsConnectionError(failure.ec)) {
          result.error = ProxyError::kClientClosed;
        } else {
          result.error = ClassifyParseError(failure.ec);  // 413 past the limit, else 400
        }
        co_return result;
      }
      if (failure.side == Side::kWrite) {
        result.error = IsTimeout(failure.ec) ? ProxyError::kExecTimeout : ProxyError::kUpstreamError;
        co_return result;
      }
    }

    upstream_buffer.clear();
    // Interim responses (100 Continue from a replica that ignores our removal
    // of Expect, 103 Early Hints) are dropped; the final one follows.
    do {
      response.emplace();
      response->header_limit(64 * 1024);
      response->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (client.head_request) response->skip(true);
      co_await bhttp::async_read_header(*upstream, upstream_buffer, *response,
                                        asio::redirect_error(asio::use_awaitable, ec));
    } while (!ec && response->get().result_int() / 100 == 1 && response->get().result_int() != 101);
    if (ec) {
      if (reused && !request_has_body && attempt == 0 && IsStaleConnection(ec) &&
          upstream_buffer.size() == 0) {
        continue;
      }
      result.error = IsTimeout(ec) ? ProxyError::kExecTimeout : ProxyError::kUpstreamError;
      co_return result;
    }
    break;
  }

  Response& head = response->get();
  const bool upstream_keep_alive = head.keep_alive();
  result.status = static_cast<int>(head.result_int());
  const bool draining = client.draining != nullptr && client.draining->load();
  const bool client_keep_alive =
      PrepareClientResponse(head, client.request_id, client.version, client.keep_alive && !draining);
  bhttp::response_serializer<bhttp::buffer_body> response_serializer(head);
  client.stream.expires_after(remaining());

  RelayFailure failure;
  if (response->is_done() || upstream_buffer.size() == 0) {
    // No body, or none arrived with the head: send the head now so that a
    // streaming response reaches the client before its first chunk.
    co_await bhttp::async_write_header(client.stream, response_serializer,
                                       asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      result.error = IsTimeout(ec) ? ProxyError::kExecTimeout : ProxyError::kClientClosed;
      co_return result;
    }
  }
  if (!response->is_done()) {
    failure = co_await RelayBody(*upstream, upstream_buffer, *response, client.stream, response_serializer,
                                 response_buf, settings.relay_buffer_bytes, result.bytes_out);
  }
  result.response_started = response_serializer.is_header_done();
  if (failure.side == Side::kRead) {
    result.error = IsTimeout(failure.ec) ? ProxyError::kExecTimeout : ProxyError::kUpstreamError;
    co_return result;
  }
  if (failure.side == Side::kWrite) {
    result.error = IsTimeout(failure.ec) ? ProxyError::kExecTimeout : ProxyError::kClientClosed;
    co_return result;
  }

  client.stream.expires_never();
  if (upstream_keep_alive && response->is_done() && client.parser.is_done() && upstream_buffer.size() == 0) {
    pool.Put(endpoint.address(), std::move(*upstream));
  }
  result.client_reusable = client_keep_alive && client.parser.is_done();
  co_return result;
}

}  // namespace zs::activator
