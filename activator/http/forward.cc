#include "activator/http/forward.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "activator/http/framing.h"
#include "activator/http/headers.h"
#include "activator/http/parse.h"
#include "activator/http/tunnel.h"

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
// `last_read`, when given, is set to clock.Now() after every read.
template <bool kIsRequest>
asio::awaitable<RelayFailure> RelayBody(beast::tcp_stream& in, ReadBuffer& in_buffer,
                                        bhttp::parser<kIsRequest, bhttp::buffer_body, FieldAllocator>& parser,
                                        beast::tcp_stream& out,
                                        bhttp::serializer<kIsRequest, bhttp::buffer_body, Fields>& serializer,
                                        char* buf, size_t size, uint64_t& bytes,
                                        MonotonicTime* last_read = nullptr, const Clock* clock = nullptr) {
  error_code ec;
  auto& body = parser.get().body();
  while (!parser.is_done()) {
    body.data = buf;
    body.size = size;
    co_await bhttp::async_read_some(in, in_buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return RelayFailure{Side::kRead, ec};
    if (last_read != nullptr) *last_read = clock->Now();
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

// This thread's idle relay buffers (forward.h TrimRelayBuffers).
struct IdleRelayBuffers {
  static constexpr size_t kMaxIdle = 64;
  size_t bytes = 0;  // the size of each; a different setting starts over
  std::vector<std::unique_ptr<char[]>> blocks;
  // The fewest idle since the last trim: that many were never needed.
  size_t low_water = 0;
};
thread_local IdleRelayBuffers idle_relay_buffers;

// An exchange's two relay buffers (one block), taken from the thread's idle
// ones and given back when the exchange ends.
class RelayBlock {
 public:
  explicit RelayBlock(size_t bytes) : bytes_(bytes) {
    IdleRelayBuffers& idle = idle_relay_buffers;
    if (idle.bytes == bytes && !idle.blocks.empty()) {
      block_ = std::move(idle.blocks.back());
      idle.blocks.pop_back();
      idle.low_water = std::min(idle.low_water, idle.blocks.size());
    } else {
      block_.reset(new char[bytes]);  // default-initialised: never zeroed
    }
  }
  ~RelayBlock() {
    IdleRelayBuffers& idle = idle_relay_buffers;
    if (idle.bytes != bytes_) {
      idle.blocks.clear();
      idle.bytes = bytes_;
      idle.low_water = 0;
    }
    if (idle.blocks.size() < IdleRelayBuffers::kMaxIdle) idle.blocks.push_back(std::move(block_));
  }
  RelayBlock(const RelayBlock&) = delete;
  RelayBlock& operator=(const RelayBlock&) = delete;
  char* get() const { return block_.get(); }

 private:
  size_t bytes_;
  std::unique_ptr<char[]> block_;
};

// A pooled connection the replica had already closed shows up as one of these
// before any response byte.
bool IsStaleConnection(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

// The request body's way to the replica, run beside the response's way back
// (full duplex: a function may answer, or stream its answer, before it has
// read the whole request). Lives in Forward's frame; Forward never returns
// while it runs.
struct Upload {
  explicit Upload(const asio::any_io_executor& executor)
      : signal(executor), stall_timer(executor), watchdog_done(executor) {}
  bool running = false;
  // Set when Forward stops it (the response is over): its failure then is
  // ours, not the client's.
  bool stopped = false;
  RelayFailure failure;
  asio::steady_timer signal;  // cancelled when the upload ends
  // The client sent no body byte for client_body_timeout (the watchdog
  // cancelled its read).
  bool stalled = false;
  MonotonicTime last_read{};
  bool watching = false;
  asio::steady_timer stall_timer;
  asio::steady_timer watchdog_done;  // cancelled when the watchdog leaves
  bool Failed() const { return failure.side != Side::kNone; }
  // The client's side failed on its own (left, too slow, too large, malformed).
  bool ClientFailed() const { return (failure.side == Side::kRead && !stopped) || stalled; }
};

// What a failed read of the client's request body means for the client.
ProxyError ClientReadError(const error_code& ec) {
  if (IsTimeout(ec)) return ProxyError::kExecTimeout;
  if (IsConnectionError(ec)) return ProxyError::kClientClosed;
  // Past the head, a limit is hit only by an endless chunk line or trailer.
  if (ec == bhttp::error::header_limit) return ProxyError::kBadRequest;
  return ClassifyParseError(ec);  // 413 past the body limit, else 400
}

// What the client's failed upload means for it.
ProxyError UploadError(const Upload& upload) {
  return upload.stalled ? ProxyError::kClientBodyTimeout : ClientReadError(upload.failure.ec);
}

// Cuts the upload when no body byte came for `limit`: one timer re-armed
// lazily from the last read, not one per read.
asio::awaitable<void> WatchUpload(Upload& upload, beast::tcp_stream& client, Duration limit,
                                  const Clock& clock) {
  while (upload.watching && !upload.stopped) {
    const Duration idle = clock.Now() - upload.last_read;
    if (idle >= limit) {
      upload.stalled = true;
      error_code ignored;
      client.socket().cancel(ignored);
      break;
    }
    upload.stall_timer.expires_after(limit - idle);
    error_code ec;
    co_await upload.stall_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  upload.watching = false;
  upload.watchdog_done.cancel();
}

asio::awaitable<ForwardResult> Exchange(UpstreamPool& pool, ClientExchange& client,
                                        const EndpointSlot& endpoint, Duration timeout,
                                        const ForwardSettings& settings, const Clock& clock);

}  // namespace

void TrimRelayBuffers() {
  IdleRelayBuffers& idle = idle_relay_buffers;
  const size_t unused = std::min(idle.low_water, idle.blocks.size());
  idle.blocks.resize(idle.blocks.size() - unused);
  idle.low_water = idle.blocks.size();
}

void ExchangeCut::Cut() {
  cut_ = true;
  if (upstream_ != nullptr && *upstream_ != nullptr) (*upstream_)->close();
}

asio::awaitable<ForwardResult> Forward(UpstreamPool& pool, ClientExchange& client,
                                       const EndpointSlot& endpoint, Duration timeout,
                                       const ForwardSettings& settings, const Clock& clock) {
  ForwardResult result = co_await Exchange(pool, client, endpoint, timeout, settings, clock);
  // What failed because of the cut failed for it (a completed exchange stays
  // complete; nothing sent is still a connect failure the caller answers).
  if (client.cut != nullptr && client.cut->cut() && !result.connect_failed &&
      result.error != ProxyError::kNone)
    result.error = ProxyError::kDrainCut;
  co_return result;
}

namespace {

asio::awaitable<ForwardResult> Exchange(UpstreamPool& pool, ClientExchange& client,
                                        const EndpointSlot& endpoint, Duration timeout,
                                        const ForwardSettings& settings, const Clock& clock) {
  ForwardResult result;
  const MonotonicTime start = clock.Now();
  auto remaining = [&]() -> Duration {
    const Duration left = timeout - (clock.Now() - start);
    return left > Duration{0} ? left : Duration{1};
  };
  const bool request_has_body = !client.parser.is_done();
  const auto executor = co_await asio::this_coro::executor;
  error_code ec;

  error_code address_ec;
  const auto ip = asio::ip::make_address(endpoint.endpoint().ip, address_ec);
  if (address_ec) {
    result.connect_failed = true;
    co_return result;
  }
  const tcp::endpoint target(ip, endpoint.endpoint().port);

  const RelayBlock buffers(2 * settings.relay_buffer_bytes);
  char* request_buf = buffers.get();
  char* response_buf = buffers.get() + settings.relay_buffer_bytes;

  UpstreamStream upstream;
  // The cut closes whichever replica connection is in use; unregistered
  // before `upstream` goes away.
  struct Registration {
    ExchangeCut* cut;
    ~Registration() {
      if (cut != nullptr) cut->Watch(nullptr);
    }
  } registration{client.cut};
  if (client.cut != nullptr) client.cut->Watch(&upstream);
  std::optional<ResponseParser> response;
  // Bounded: a response head, then one read plus one chunk header line.
  ReadBuffer upstream_buffer(ReadBufferLimit(kMaxResponseHeaderBytes));
  Upload upload(executor);
  std::optional<RequestSerializer> request_serializer;

  // Stops the running upload and waits for it to leave. Call only while
  // upload.running: the callers test it, since calling a coroutine allocates
  // its frame even when there is nothing to do, and most requests have no
  // upload.
  auto finish_upload = [&]() -> asio::awaitable<void> {
    upload.stopped = true;
    error_code ignored;
    if (upstream) upstream->socket().cancel(ignored);
    client.stream.socket().cancel(ignored);
    while (upload.running) {
      upload.signal.expires_at(asio::steady_timer::time_point::max());
      co_await upload.signal.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  };

  for (int attempt = 0;; ++attempt) {
    upstream.reset();
    bool reused = false;
    if (attempt == 0) {
      upstream = pool.Take(endpoint.address());
      reused = upstream != nullptr;
    }
    if (!upstream) {
      upstream = std::make_unique<beast::tcp_stream>(executor);
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

    request_serializer.emplace(client.parser.get());
    co_await bhttp::async_write_header(*upstream, *request_serializer,
                                       asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // An unfinished head cannot have run: a dead pooled connection is
      // replaced; nothing was consumed from the client yet.
      if (reused && !IsTimeout(ec)) continue;
      result.error = IsTimeout(ec) ? ProxyError::kExecTimeout : ProxyError::kUpstreamError;
      co_return result;
    }

    if (request_has_body) {
      upload.running = true;
      client.stream.expires_after(remaining());
      asio::co_spawn(
          executor,
          [&]() -> asio::awaitable<void> {
            upload.last_read = clock.Now();
            if (settings.client_body_timeout > Duration{0}) {
              upload.watching = true;
              asio::co_spawn(executor,
                             WatchUpload(upload, client.stream, settings.client_body_timeout, clock),
                             asio::detached);
            }
            upload.failure = co_await RelayBody(client.stream, client.buffer, client.parser, *upstream,
                                                *request_serializer, request_buf, settings.relay_buffer_bytes,
                                                result.bytes_in, &upload.last_read, &clock);
            if (upload.watching) {
              upload.watching = false;
              upload.stall_timer.cancel();
              // The watchdog lives in our frame's objects: wait until it left.
              error_code ignored;
              upload.watchdog_done.expires_at(asio::steady_timer::time_point::max());
              co_await upload.watchdog_done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
            }
            if (upload.ClientFailed()) {
              // The client failed (left, too slow, too large, malformed): the
              // exchange is over; closing the replica connection tells the
              // function and ends the response read below.
              error_code ignored;
              upstream->socket().shutdown(tcp::socket::shutdown_both, ignored);
              upstream->socket().cancel(ignored);
            }
            // A write failure (the replica stopped reading: it answered early
            // and closed) ends only the upload; its answer may still come.
            upload.running = false;
            upload.signal.cancel();
          },
          asio::detached);
    }

    upstream_buffer.clear();
    // Interim responses (100 Continue from a replica that ignores our removal
    // of Expect, 103 Early Hints) are dropped; the final one follows.
    do {
      response.emplace();
      response->header_limit(kMaxResponseHeaderBytes);
      response->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (client.head_request) response->skip(true);
      co_await bhttp::async_read_header(*upstream, upstream_buffer, *response,
                                        asio::redirect_error(asio::use_awaitable, ec));
    } while (!ec && response->get().result_int() / 100 == 1 && response->get().result_int() != 101);
    if (ec) {
      if (upload.running) {
        co_await finish_upload();
      }
      if (upload.ClientFailed()) {
        result.error = UploadError(upload);
        co_return result;
      }
      // Retry only what cannot have run (README "Retries"): the replica
      // closed a pooled connection before reading anything of ours, and the
      // request is idempotent and had no body (so nothing was consumed).
      if (reused && attempt == 0 && !request_has_body && client.idempotent && IsStaleConnection(ec) &&
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
  const std::optional<Duration> keep_alive_hint = KeepAliveTimeoutHint(head);
  const bool switched_protocols = head.result_int() == 101;
  if (switched_protocols) {
    if (upload.running) {
      co_await finish_upload();
    }
    // A 101 nobody asked for cannot be relayed: we would not know the protocol.
    if (client.upgrade.empty()) {
      result.error = ProxyError::kUpstreamError;
      co_return result;
    }
    PrepareSwitchingResponse(head, client.request_id);
    ResponseSerializer switching(head);
    client.stream.expires_after(remaining());
    co_await bhttp::async_write_header(client.stream, switching,
                                       asio::redirect_error(asio::use_awaitable, ec));
    client.stream.expires_never();
    if (ec) {
      result.error = IsTimeout(ec) ? ProxyError::kExecTimeout : ProxyError::kClientClosed;
      co_return result;
    }
    result.status = 101;
    result.response_started = true;
    result.request_body_read = true;
    const TunnelResult tunnel = co_await Tunnel(client.stream, client.buffer, *upstream, upstream_buffer,
                                                remaining(), settings.relay_buffer_bytes);
    result.bytes_in += tunnel.bytes_in;
    result.bytes_out += tunnel.bytes_out;
    if (tunnel.end == TunnelResult::End::kTimedOut) result.error = ProxyError::kExecTimeout;
    if (tunnel.end == TunnelResult::End::kReplicaFailed) result.error = ProxyError::kUpstreamError;
    co_return result;
  }
  result.status = static_cast<int>(head.result_int());
  std::optional<uint64_t> parsed_length;
  if (auto length = response->content_length()) parsed_length = *length;
  const ResponseFraming framing =
      FrameResponseForClient(head, parsed_length, client.version, client.head_request);
  if (framing.malformed) {
    if (upload.running) {
      co_await finish_upload();
    }
    result.error = ProxyError::kUpstreamError;
    co_return result;
  }
  const bool draining = client.draining != nullptr && client.draining->load();
  // Say close up front unless the request was read to its end by now: an
  // answer that comes while the body is still on its way (an early 413, or
  // a streaming echo) may leave the rest unread, and then the connection
  // cannot carry another request. Also when our close ends the body.
  const bool keep_alive = client.keep_alive && !draining && client.parser.is_done() && !upload.Failed() &&
                          framing.client != ClientBodyFraming::kClose;
  PrepareClientResponse(head, client.request_id, client.version, keep_alive);
  ResponseSerializer response_serializer(head);
  client.stream.expires_after(remaining());

  RelayFailure failure;
  if (response->is_done() || upstream_buffer.size() == 0) {
    // No body, or none arrived with the head: send the head now so that a
    // streaming response reaches the client before its first chunk.
    co_await bhttp::async_write_header(client.stream, response_serializer,
                                       asio::redirect_error(asio::use_awaitable, ec));
    if (ec) failure = RelayFailure{Side::kWrite, ec};
  }
  if (failure.side == Side::kNone && !response->is_done()) {
    failure = co_await RelayBody(*upstream, upstream_buffer, *response, client.stream, response_serializer,
                                 response_buf, settings.relay_buffer_bytes, result.bytes_out);
  }
  result.response_started = response_serializer.is_header_done();
  // The response is over (or failed): an upload still running means the
  // function answered without reading all of the request; stop it.
  if (upload.running) {
    co_await finish_upload();
  }
  if (upload.ClientFailed()) {
    result.error = UploadError(upload);
    co_return result;
  }
  if (failure.side == Side::kRead) {
    result.error = IsTimeout(failure.ec) ? ProxyError::kExecTimeout : ProxyError::kUpstreamError;
    co_return result;
  }
  if (failure.side == Side::kWrite) {
    result.error = IsTimeout(failure.ec) ? ProxyError::kExecTimeout : ProxyError::kClientClosed;
    co_return result;
  }

  client.stream.expires_never();
  UpstreamExchangeState exchange;
  exchange.response_complete = response->is_done();
  exchange.response_keep_alive = upstream_keep_alive;
  exchange.close_delimited = framing.upstream_close_delimited;
  exchange.request_complete = client.parser.is_done() && !upload.Failed();
  exchange.stray_bytes = upstream_buffer.size() != 0;
  exchange.switched_protocols = switched_protocols;
  if (UpstreamReusable(exchange)) pool.Put(endpoint.address(), std::move(upstream), keep_alive_hint);
  result.request_body_read = client.parser.is_done();
  result.client_reusable = keep_alive && ClientReusable(result.request_body_read, keep_alive, framing.client);
  co_return result;
}

}  // namespace

}  // namespace zs::activator
