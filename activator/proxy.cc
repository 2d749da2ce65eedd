#include "activator/proxy.h"

#include <poll.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "activator/admission/lookup.h"
#include "activator/errors.h"
#include "activator/http/framing.h"
#include "activator/http/headers.h"
#include "common/http/admin_server.h"
#include "common/log.h"
#include "common/strings.h"

namespace zs::activator {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// Logs what escaped a coroutine; with error_code overloads throughout, only
// allocation failure can get here.
void OnCoroutineDone(const std::exception_ptr& error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log::Error("proxy coroutine failed", {{"error", e.what()}});
  } catch (...) {
    log::Error("proxy coroutine failed", {{"error", "unknown"}});
  }
}

// A pause with its timer in its own frame: a timer declared in a request's
// coroutine would sit in that frame while the request is held.
asio::awaitable<void> PauseFor(Duration pause) {
  asio::steady_timer timer(co_await asio::this_coro::executor, pause);
  error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// A held request's wait for its admission, shared with the buffer's callback
// (which may run after the request's coroutine is gone). The coroutine waits
// on one thing at a time, the client's socket or a poll timer, and names it
// here for the admission to cancel: one pending operation per held request.
struct HeldWait {
  std::optional<Admission> result;
  tcp::socket* socket = nullptr;
  asio::steady_timer* timer = nullptr;

  // On the waiting coroutine's thread.
  void Wake() {
    error_code ignored;
    if (socket != nullptr) socket->cancel(ignored);
    if (timer != nullptr) timer->cancel();
  }
  // Forgets the waits when the coroutine leaves (or its frame is destroyed).
  struct Leave {
    HeldWait& wait;
    ~Leave() {
      wait.socket = nullptr;
      wait.timer = nullptr;
    }
  };
};

// No replica to avoid: a request's first admission.
const std::vector<std::string> kNoAvoid;

// A pause of a held request, on a timer of its own frame that the admission
// can cancel.
asio::awaitable<void> PollPause(HeldWait& wait, Duration pause) {
  asio::steady_timer timer(co_await asio::this_coro::executor, pause);
  wait.timer = &timer;
  error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  wait.timer = nullptr;
}

}  // namespace

// One worker: an io_context, its thread, its replica connection pool and the
// client connections it serves.
struct Worker {
  struct Session {
    beast::tcp_stream* stream;
    bool idle = false;
    ExchangeCut* cut = nullptr;
  };

  Worker(const UpstreamPool::Options& pool_options, const Clock& clock) : pool(pool_options, clock), io(1) {}

  UpstreamPool pool;
  std::list<Session*> sessions;  // touched only on this worker's thread
  std::thread thread;
  // Last, so it is destroyed first: destroying it destroys the suspended
  // connection coroutines, whose destructors still use the members above.
  asio::io_context io;
};

class Proxy::Impl {
 public:
  Impl(ProxyOptions options, ProxyDeps deps)
      : options_(std::move(options)), deps_(deps), workers_(), acceptor_(nullptr) {
    UpstreamPool::Options pool_options;
    pool_options.max_idle_per_endpoint = options_.max_idle_upstream_per_endpoint;
    pool_options.idle_timeout = options_.upstream_idle_timeout;
    const int n = std::max(1, options_.threads);
    for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(pool_options, deps_.clock));
  }

  ~Impl() {
    Shutdown(std::chrono::milliseconds(0));
    // Connections' destructors (run when an io_context is destroyed) reach
    // back into this object, so the workers go before the other members.
    acceptor_.reset();
    workers_.clear();
  }

  absl::Status Bind() {
    auto parsed = http::ParseBindAddress(options_.bind_address);
    if (!parsed.ok()) return parsed.status();
    error_code ec;
    const auto ip = asio::ip::make_address(parsed->host, ec);
    if (ec)
      return absl::InvalidArgumentError(Cat("bad host in \"", options_.bind_address, "\": ", ec.message()));
    acceptor_ = std::make_unique<tcp::acceptor>(workers_[0]->io);
    const tcp::endpoint endpoint(ip, parsed->port);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(Cat("listen on ", options_.bind_address, ": ", ec.message()));
    port_ = acceptor_->local_endpoint(ec).port();
    return absl::OkStatus();
  }

  void Run() {
    asio::co_spawn(workers_[0]->io, AcceptLoop(), OnCoroutineDone);
    asio::co_spawn(workers_[0]->io, TickLoop(), OnCoroutineDone);
    for (auto& worker : workers_) {
      asio::co_spawn(worker->io, SweepLoop(*worker), OnCoroutineDone);
      worker->thread = std::thread([w = worker.get()] { w->io.run(); });
    }
  }

  uint16_t port() const { return port_; }
  int64_t open_connections() const { return connections_.load(); }

  void Shutdown(std::chrono::milliseconds drain) {
    if (stopped_) return;
    stopped_ = true;
    draining_.store(true);
    asio::post(workers_[0]->io, [this] {
      error_code ignored;
      acceptor_->close(ignored);
    });
    CloseSessions(/*idle_only=*/true);
    if (!WaitForConnections(drain)) {
      // Out of time: whoever is still buffered gets a 503 to retry
      // elsewhere, and every forwarded exchange is cut (504 before its
      // response head, closed after); give those answers a moment to be
      // written. Each is metered before its answer goes out.
      deps_.buffer.FailAll(ProxyError::kShuttingDown);
      CutExchanges();
      if (!WaitForConnections(std::chrono::milliseconds(1000))) {
        log::Warn("closing connections still open after the drain timeout",
                  {{"connections", connections_.load()}});
        CloseSessions(/*idle_only=*/false);
        WaitForConnections(std::chrono::milliseconds(1000));
      }
    }
    ticking_.store(false);
    for (auto& worker : workers_) worker->io.stop();
    for (auto& worker : workers_) {
      if (worker->thread.joinable()) worker->thread.join();
    }
    // Nothing of ours is buffered any more; this only catches a retry that
    // slipped in after the last FailAll. After the joins, so that none can
    // slip in after it: a callback left in the buffer would post to an
    // io_context destroyed with this proxy. (Posting to a stopped one is
    // safe: the handler, and the lease in it, go with it.)
    deps_.buffer.FailAll(ProxyError::kShuttingDown);
    for (auto& worker : workers_) worker->pool.Clear();
  }

  // Called from a worker thread when a connection ends.
  void ConnectionEnded() {
    deps_.meter.OnConnectionEnded();
    if (connections_.fetch_sub(1) == 1) {
      std::lock_guard lock(drain_mu_);
      drain_cv_.notify_all();
    }
  }

 private:
  class Connection;

  bool WaitForConnections(std::chrono::milliseconds limit) {
    std::unique_lock lock(drain_mu_);
    return drain_cv_.wait_for(lock, limit, [&] { return connections_.load() == 0; });
  }

  void CloseSessions(bool idle_only) {
    for (auto& worker : workers_) {
      asio::post(worker->io, [w = worker.get(), idle_only] {
        for (Worker::Session* session : w->sessions) {
          if (idle_only && !session->idle) continue;
          error_code ignored;
          session->stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
          session->stream->socket().close(ignored);
        }
      });
    }
  }

  void CutExchanges() {
    for (auto& worker : workers_) {
      asio::post(worker->io, [w = worker.get()] {
        for (Worker::Session* session : w->sessions) {
          if (session->cut != nullptr) session->cut->Cut();
        }
      });
    }
  }

  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> TickLoop();
  asio::awaitable<void> SweepLoop(Worker& worker);

  const ProxyOptions options_;
  const ProxyDeps deps_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  size_t next_worker_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<bool> ticking_{true};
  std::atomic<int64_t> connections_{0};
  std::mutex drain_mu_;
  std::condition_variable drain_cv_;
  bool stopped_ = false;

  friend class Connection;
};

// One client connection: reads requests in order and runs each through the
// stages. Made by the accept loop, then owned by its Run coroutine on one
// worker (no frame of its own: a held request costs every frame it keeps).
class Proxy::Impl::Connection {
 public:
  Connection(Impl& proxy, Worker& worker, tcp::socket socket)
      : proxy_(proxy),
        worker_(worker),
        stream_(std::move(socket)),
        buffer_(ReadBufferLimit(proxy.options_.limits.max_header_bytes)),
        session_{&stream_, false, &cut_} {
    error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    const auto remote = stream_.socket().remote_endpoint(ec);
    client_ip_ = ec ? std::string("unknown") : remote.address().to_string();
  }

  ~Connection() {
    if (registered_) worker_.sessions.erase(position_);
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
    proxy_.ConnectionEnded();
  }

  // Serves the connection's requests until it closes. `self` is this
  // connection: the coroutine owns it, so that it lives exactly as long as
  // it is served (also when the worker's io_context destroys the coroutine
  // unfinished).
  asio::awaitable<void> Run(std::unique_ptr<Connection> self);

 private:
  // When a request arrived, on both clocks.
  struct Arrival {
    MonotonicTime monotonic;
    SystemTime wall;
  };
  // Handles one request whose head is in `parser` up to its first admission
  // (routing, the capped hand-over, the hold), then ServeAdmitted; returns
  // whether the connection may serve another.
  asio::awaitable<bool> HandleRequest(RequestParser& parser);
  // Decides an admission without waiting when it can: a slot claimed at
  // once, or kShuttingDown past the drain deadline. False: Admit must decide.
  bool ClaimSlot(const std::shared_ptr<const FunctionConfig>& config, const std::vector<std::string>& avoid,
                 Admission& admission);
  // What the client's request head says about the exchange, read once
  // before any rewrite (the upstream and relay rewrites drop Expect and
  // Upgrade as hop-by-hop fields).
  struct ClientFacts {
    unsigned version = 11;
    bool keep_alive = true;  // asked for, and the proxy is not draining
    bool expect_continue = false;
    bool head_request = false;
  };
  ClientFacts FactsOf(const Request& request) const;
  // The billing record of the request as it arrived: method, request id (the
  // client's or a new one) and, for a known Function, its name and trigger.
  Invocation InvocationOf(const Request& request, const std::shared_ptr<const FunctionConfig>& config,
                          SystemTime arrival_wall) const;
  // Metered and answered 404: the request names no known Function.
  asio::awaitable<bool> AnswerUnknown(RequestParser& parser, const std::optional<Route>& route,
                                      const ClientFacts& facts, SystemTime arrival_wall);
  // Forwards an admitted request (or answers its failed admission), trying
  // other replicas (admitted again) while they refuse the connection.
  // (Arguments by reference into HandleRequest's frame, which outlives it.)
  asio::awaitable<bool> ServeAdmitted(RequestParser& parser, const Route& route,
                                      const std::shared_ptr<const FunctionConfig>& config,
                                      const Arrival& arrival, const ClientFacts& facts, Admission& admission);
  // The client side of a forward of the request in `parser`.
  ClientExchange ExchangeFor(RequestParser& parser, std::string_view request_id, const ClientFacts& facts,
                             std::string_view upgrade);
  // A capped Function with several activators: relays the request to its
  // owner, or holds it while this new owner may not start yet. nullopt:
  // serve it here; otherwise it was answered, and the value says whether
  // the connection may go on. A request another member relayed here
  // (`relayed_in`) may be held, never relayed on.
  asio::awaitable<std::optional<bool>> PlaceCapped(RequestParser& parser,
                                                   const std::shared_ptr<const FunctionConfig>& config,
                                                   const ClientFacts& facts, const Arrival& arrival,
                                                   bool relayed_in);
  // Holds the request in the buffer until it is admitted or fails.
  // While held, the client's socket is watched: a client that leaves takes
  // its request back out of the buffer (kClientClosed).
  // The admission is written to `admission` (not returned: a result would
  // have a slot in both frames while the request is held).
  asio::awaitable<void> Admit(const std::shared_ptr<const FunctionConfig>& config, MonotonicTime deadline,
                              const std::vector<std::string>& avoid, Admission& admission);
  // Admit's call into the buffer, outside the coroutine so that its
  // temporaries are not in the held request's frame: `wait->result` is set
  // when the admission was decided at once; returns the id to Cancel with.
  uint64_t Hold(const std::shared_ptr<const FunctionConfig>& config, MonotonicTime deadline,
                const std::vector<std::string>& avoid, const std::shared_ptr<HeldWait>& wait);
  // Whether the client has closed its end (FIN, RST or error), even with
  // unread bytes still queued.
  bool ClientHungUp() const;
  // Ends a connection whose client may still be sending (an answer given
  // before its request was read to the end): stop sending, then read and
  // drop what comes for a short while, so that the client reads our answer
  // instead of a reset (nginx's lingering close).
  asio::awaitable<void> LingeringClose();
  // Writes the activator's own error answer; returns whether the connection
  // may go on (only if the request was fully read and the client wants it).
  // `function` and `request_id` must be named strings of the caller's that
  // outlive the co_await, never temporaries: GCC 12 mishandles temporaries
  // across co_await. (Views, not copies: every copy would sit in the
  // caller's coroutine frame for as long as a request is held.)
  asio::awaitable<bool> WriteError(ProxyError error, std::string_view function, std::string_view request_id,
                                   unsigned version, bool request_consumed, bool keep_alive);
  // Metered and answered, then the connection closes: a request refused
  // before routing (a head that did not parse: version 11 and no method; a
  // framing the activator does not forward). A coroutine of its own, so
  // that its locals are not part of every request's frame.
  // `method` views the parser's head (or is empty), which outlives the call.
  asio::awaitable<void> Refuse(ProxyError error, unsigned version, std::string_view method);

  const Clock& clock() const { return proxy_.deps_.clock; }

  Impl& proxy_;
  Worker& worker_;
  beast::tcp_stream stream_;
  ReadBuffer buffer_;
  ExchangeCut cut_;
  Worker::Session session_;
  std::list<Worker::Session*>::iterator position_;
  std::string client_ip_;
  // An answer went out before the request was read to its end.
  bool linger_ = false;
  // In worker_.sessions (done by Run, on the worker's thread).
  bool registered_ = false;
};

asio::awaitable<void> Proxy::Impl::AcceptLoop() {
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  for (;;) {
    Worker& worker = *workers_[next_worker_++ % workers_.size()];
    tcp::socket socket(worker.io);
    error_code ec;
    co_await acceptor_->async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
      // Out of descriptors and the like: count it and breathe rather than spin.
      deps_.meter.OnConnectionClosed("accept_error");
      backoff.expires_after(std::chrono::milliseconds(10));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (draining_.load()) {
      socket.close(ec);
      continue;
    }
    connections_.fetch_add(1);
    deps_.meter.OnConnectionOpened();
    std::unique_ptr<Connection> connection;
    try {
      connection = std::make_unique<Connection>(*this, worker, std::move(socket));
    } catch (const std::exception& e) {
      // Out of memory: this connection is lost (its socket closed), not the
      // accept loop.
      log::Error("cannot serve a new connection", {{"error", e.what()}});
      ConnectionEnded();
      continue;
    }
    Connection& served = *connection;
    asio::co_spawn(worker.io, served.Run(std::move(connection)), OnCoroutineDone);
  }
}

asio::awaitable<void> Proxy::Impl::TickLoop() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (ticking_.load()) {
    timer.expires_after(options_.tick_interval);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    deps_.buffer.Tick();
  }
}

asio::awaitable<void> Proxy::Impl::SweepLoop(Worker& worker) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(5));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    worker.pool.Sweep();
    TrimRelayBuffers();
  }
}

asio::awaitable<void> Proxy::Impl::Connection::Run(std::unique_ptr<Connection> self) {
  worker_.sessions.push_front(&session_);
  position_ = worker_.sessions.begin();
  registered_ = true;
  bool first = true;
  for (;;) {
    // Waits for the first byte of the next request head, unless pipelined
    // bytes are already here. (In this loop, not a coroutine of its own: a
    // call would allocate a frame per request.)
    if (buffer_.size() == 0) {
      session_.idle = true;
      if (proxy_.draining_.load()) break;
      // A fresh connection gets the head timeout for its first byte as well,
      // so connections that never send anything are not held for idle_timeout.
      stream_.expires_after(first ? proxy_.options_.header_read_timeout : proxy_.options_.idle_timeout);
      error_code ec;
      const size_t n = co_await stream_.async_read_some(buffer_.prepare(4096),
                                                        asio::redirect_error(asio::use_awaitable, ec));
      buffer_.commit(n);
      session_.idle = false;
      if (ec) {
        if (ec == beast::error::timeout)
          proxy_.deps_.meter.OnConnectionClosed(first ? "header_timeout" : "idle_timeout");
        break;
      }
    }
    first = false;
    RequestParser parser;
    ConfigureRequestParser(parser, proxy_.options_.limits);
    stream_.expires_after(proxy_.options_.header_read_timeout);
    error_code ec;
    co_await bhttp::async_read_header(stream_, buffer_, parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == beast::error::timeout) {
        // Slowloris: a head that trickles in slower than the timeout.
        proxy_.deps_.meter.OnConnectionClosed("header_timeout");
        break;
      }
      if (IsConnectionError(ec)) break;
      co_await Refuse(ClassifyParseError(ec), 11, std::string_view());
      break;
    }
    const bool keep = co_await HandleRequest(parser);
    if (!keep) break;
  }
  if (linger_) {
    co_await LingeringClose();
  }
}

asio::awaitable<void> Proxy::Impl::Connection::Refuse(ProxyError error, unsigned version,
                                                      std::string_view method) {
  Invocation refused;
  refused.code = Spec(error).http_status;
  refused.error = error;
  refused.arrival_wall = clock().WallNow();
  refused.method = std::string(method);
  const std::string request_id = NewRequestId();
  proxy_.deps_.meter.Finish(refused);
  co_await WriteError(error, std::string_view(), request_id, version, /*request_consumed=*/false,
                      /*keep_alive=*/false);
}

bool Proxy::Impl::Connection::ClientHungUp() const {
  pollfd fd{};
  fd.fd = const_cast<beast::tcp_stream&>(stream_).socket().native_handle();
  fd.events = POLLRDHUP;
  return ::poll(&fd, 1, 0) > 0 && (fd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

asio::awaitable<void> Proxy::Impl::Connection::LingeringClose() {
  constexpr auto kLingerTime = std::chrono::seconds(2);
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  buffer_.consume(buffer_.size());
  stream_.expires_after(kLingerTime);
  char discard[16 * 1024];
  while (!ec) {
    co_await stream_.async_read_some(asio::buffer(discard), asio::redirect_error(asio::use_awaitable, ec));
  }
  stream_.expires_never();
}

uint64_t Proxy::Impl::Connection::Hold(const std::shared_ptr<const FunctionConfig>& config,
                                       MonotonicTime deadline, const std::vector<std::string>& avoid,
                                       const std::shared_ptr<HeldWait>& wait) {
  uint64_t held_id = 0;
  std::optional<Admission> immediate = proxy_.deps_.buffer.Acquire(
      config, deadline, avoid,
      [wait, io = &worker_.io](Admission admission) {
        // From whichever thread served the request: hop to ours. If our io_context
        // is gone, the handler and the lease in it are destroyed, which releases
        // the replica slot.
        asio::post(*io, [wait, admission = std::move(admission)]() mutable {
          wait->result.emplace(std::move(admission));
          wait->Wake();
        });
      },
      &held_id);
  if (immediate) wait->result = std::move(immediate);
  return held_id;
}

asio::awaitable<void> Proxy::Impl::Connection::Admit(const std::shared_ptr<const FunctionConfig>& config,
                                                     MonotonicTime deadline,
                                                     const std::vector<std::string>& avoid,
                                                     Admission& admission) {
  auto wait = std::make_shared<HeldWait>();
  const uint64_t held_id = Hold(config, deadline, avoid, wait);
  if (wait->result) {
    admission = std::move(*wait->result);
    co_return;
  }

  // Held. A client that leaves must free its place at once, not at the
  // buffer deadline: wait for its socket to turn readable (FIN or RST for a
  // bodiless request), and poll for a hang-up while its bytes (a body, a
  // pipelined request) are queued, since those keep it readable. The
  // admission wakes whichever of the two waits is pending.
  constexpr auto kHangUpPoll = std::chrono::milliseconds(50);
  const HeldWait::Leave leave{*wait};
  wait->socket = &stream_.socket();  // no other operation waits on it while held
  bool polling = buffer_.size() != 0;
  if (!polling) {
    // Nothing of the client's is waiting to be read: the read buffer's memory
    // goes back while the request is held (thousands may be held in a burst);
    // the next read allocates it again.
    buffer_.shrink_to_fit();
  }
  while (!wait->result) {
    if (polling) {
      co_await PollPause(*wait, kHangUpPoll);
    } else {
      error_code ec;
      co_await stream_.socket().async_wait(tcp::socket::wait_read,
                                           asio::redirect_error(asio::use_awaitable, ec));
      polling = true;  // bytes or a hang-up are queued: from now on, poll
    }
    if (wait->result) break;
    if (ClientHungUp() && proxy_.deps_.buffer.Cancel(config->key, held_id)) {
      admission.error = ProxyError::kClientClosed;
      admission.queued = true;
      co_return;
    }
  }
  admission = std::move(*wait->result);
}

asio::awaitable<bool> Proxy::Impl::Connection::WriteError(ProxyError error, std::string_view function,
                                                          std::string_view request_id, unsigned version,
                                                          bool request_consumed, bool keep_alive) {
  const ErrorSpec& spec = Spec(error);
  if (error == ProxyError::kClientClosed) co_return false;
  const bool keep = keep_alive && request_consumed && !proxy_.draining_.load();
  if (!request_consumed) linger_ = true;
  bhttp::response<bhttp::string_body> response(static_cast<bhttp::status>(spec.http_status),
                                               version == 10 ? 10 : 11);
  response.set(bhttp::field::server, "zeroscale-activator");
  response.set(bhttp::field::content_type, "application/json");
  response.set("X-Request-Id", ToBeast(request_id));
  if (spec.retry_after) response.set(bhttp::field::retry_after, std::to_string(kRetryAfterSeconds));
  response.body() = ErrorBody(error, function);
  response.keep_alive(keep);
  response.prepare_payload();
  stream_.expires_after(proxy_.options_.header_read_timeout);
  error_code ec;
  co_await bhttp::async_write(stream_, response, asio::redirect_error(asio::use_awaitable, ec));
  stream_.expires_never();
  co_return keep && !ec;
}

Proxy::Impl::Connection::ClientFacts Proxy::Impl::Connection::FactsOf(const Request& request) const {
  ClientFacts facts;
  facts.version = request.version();
  facts.keep_alive = request.keep_alive() && !proxy_.draining_.load();
  facts.expect_continue = facts.version >= 11 &&
                          beast::iequals(request[bhttp::field::expect], beast::string_view("100-continue"));
  facts.head_request = request.method() == bhttp::verb::head;
  return facts;
}

Invocation Proxy::Impl::Connection::InvocationOf(const Request& request,
                                                 const std::shared_ptr<const FunctionConfig>& config,
                                                 SystemTime arrival_wall) const {
  Invocation inv;
  inv.arrival_wall = arrival_wall;
  inv.method = std::string(FromBeast(request.method_string()));
  AssignRequestId(inv, FromBeast(request["X-Request-Id"]));
  if (config) {
    inv.function = config;
    inv.trigger = TriggerOf(request, config->triggers);
  }
  return inv;
}

ClientExchange Proxy::Impl::Connection::ExchangeFor(RequestParser& parser, std::string_view request_id,
                                                    const ClientFacts& facts, std::string_view upgrade) {
  ClientExchange exchange{stream_, buffer_, parser, request_id};
  exchange.version = facts.version;
  exchange.head_request = facts.head_request;
  exchange.keep_alive = facts.keep_alive;
  exchange.expect_continue = facts.expect_continue;
  exchange.draining = &proxy_.draining_;
  exchange.upgrade = upgrade;
  exchange.cut = &cut_;
  return exchange;
}

asio::awaitable<bool> Proxy::Impl::Connection::HandleRequest(RequestParser& parser) {
  const ProxyDeps& deps = proxy_.deps_;
  Request& request = parser.get();
  if (const ProxyError framing = CheckRequestFraming(request); framing != ProxyError::kNone) {
    // Smuggling vectors and unknown codings go no further (framing.h).
    co_await Refuse(framing, request.version(), FromBeast(request.method_string()));
    co_return false;
  }
  const Arrival arrival{clock().Now(), clock().WallNow()};
  const std::optional<Route> route = ResolveRoute(
      FromBeast(request.target()), FromBeast(request[bhttp::field::host]), proxy_.options_.domain);
  std::shared_ptr<const FunctionConfig> config = route ? LookupFunction(deps.catalog, *route) : nullptr;
  // Read before any rewrite: the relay rewrite below sets HTTP/1.1 and drops
  // Connection and Expect, and a relay that fails comes back here to be
  // served.
  const ClientFacts facts = FactsOf(request);
  if (!config) {
    co_return co_await AnswerUnknown(parser, route, facts, arrival.wall);
  }
  // Only a member activator may hand a request over; a client's mark is dropped.
  const bool relayed_in =
      TakeRelayMark(request) && deps.placement != nullptr && deps.placement->IsPeerHost(client_ip_);
  if (config->max_concurrency > 0 && deps.placement != nullptr) {
    const std::optional<bool> answered = co_await PlaceCapped(parser, config, facts, arrival, relayed_in);
    if (answered) co_return *answered;
  }
  deps.meter.OnArrival(*config);
  // The first admission is decided here and the exchange's state made only
  // after it: a request held for a cold start costs this small frame, not
  // the exchange's (thousands may be held in a burst).
  Admission admission;
  if (!ClaimSlot(config, kNoAvoid, admission)) {
    co_await Admit(config, arrival.monotonic + config->buffer_timeout, kNoAvoid, admission);
  }
  co_return co_await ServeAdmitted(parser, *route, config, arrival, facts, admission);
}

asio::awaitable<bool> Proxy::Impl::Connection::AnswerUnknown(RequestParser& parser,
                                                             const std::optional<Route>& route,
                                                             const ClientFacts& facts,
                                                             SystemTime arrival_wall) {
  const std::string function = route ? route->FunctionString() : std::string();
  Invocation inv = InvocationOf(parser.get(), nullptr, arrival_wall);
  inv.code = Spec(ProxyError::kUnknownFunction).http_status;
  inv.error = ProxyError::kUnknownFunction;
  proxy_.deps_.meter.Finish(inv);
  const bool keep = co_await WriteError(ProxyError::kUnknownFunction, function, inv.request_id, facts.version,
                                        parser.is_done(), facts.keep_alive);
  co_return keep;
}

bool Proxy::Impl::Connection::ClaimSlot(const std::shared_ptr<const FunctionConfig>& config,
                                        const std::vector<std::string>& avoid, Admission& admission) {
  if (cut_.cut()) {
    // Past the drain deadline nothing more is forwarded: what never ran is
    // answered 503 to be retried elsewhere.
    admission.error = ProxyError::kShuttingDown;
    return true;
  }
  std::optional<Admission> claimed = proxy_.deps_.buffer.TryAcquire(config, avoid);
  if (!claimed) return false;
  admission = std::move(*claimed);
  return true;
}

asio::awaitable<bool> Proxy::Impl::Connection::ServeAdmitted(
    RequestParser& parser, const Route& route, const std::shared_ptr<const FunctionConfig>& config,
    const Arrival& arrival, const ClientFacts& facts, Admission& admission) {
  const ProxyDeps& deps = proxy_.deps_;
  Request& request = parser.get();
  Invocation inv = InvocationOf(request, config, arrival.wall);
  inv.path = route.path;
  const unsigned version = facts.version;
  const bool client_keep_alive = facts.keep_alive;
  const std::string function_name = config->key.String();
  // Decided before the rewrite drops Upgrade as a hop-by-hop field.
  const std::string upgrade = UpgradeToForward(request);
  PrepareUpstreamRequest(request, route, client_ip_, inv.request_id, upgrade);

  ClientExchange exchange = ExchangeFor(parser, inv.request_id, facts, upgrade);
  switch (request.method()) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::options:
    case bhttp::verb::trace:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
      exchange.idempotent = true;
      break;
    default:
      exchange.idempotent = false;
  }

  const MonotonicTime deadline = arrival.monotonic + config->buffer_timeout;
  std::vector<std::string> avoid;
  int refusals = 0;
  ForwardResult result;
  for (;;) {
    inv.cold_start = inv.cold_start || admission.cold_start;
    inv.buffered = inv.buffered || admission.queued;
    if (admission.error != ProxyError::kNone) {
      inv.queued = clock().Now() - arrival.monotonic;
      inv.code = Spec(admission.error).http_status;
      inv.error = admission.error;
      deps.meter.Finish(inv);
      const ProxyError error = admission.error;
      const bool consumed = parser.is_done();
      const bool keep =
          co_await WriteError(error, function_name, inv.request_id, version, consumed, client_keep_alive);
      co_return keep;
    }
    const MonotonicTime forward_start = clock().Now();
    inv.queued = forward_start - arrival.monotonic;
    inv.pod = admission.lease.slot().endpoint().pod;
    deps.meter.OnForwardStart(*config);
    result = co_await Forward(worker_.pool, exchange, admission.lease.slot(), config->timeout,
                              proxy_.options_.forward, clock());
    inv.forward_duration = clock().Now() - forward_start;
    deps.meter.OnForwardEnd(*config);
    if (!result.connect_failed) break;
    if (cut_.cut()) {
      // Cut while connecting: nothing reached the function.
      admission.lease.Release();
      inv.queued = clock().Now() - arrival.monotonic;
      inv.code = Spec(ProxyError::kShuttingDown).http_status;
      inv.error = ProxyError::kShuttingDown;
      deps.meter.Finish(inv);
      const bool consumed = parser.is_done();
      co_await WriteError(ProxyError::kShuttingDown, function_name, inv.request_id, version, consumed,
                          /*keep_alive=*/false);
      co_return false;
    }

    // The replica refused (or could not be reached): the 0->1 race where an
    // endpoint is ready before its server listens, or a pod going away. Try
    // another replica, or this one again after a short pause, until the
    // buffer deadline.
    deps.meter.OnConnectRetry();
    avoid.push_back(admission.lease.slot().address());
    admission.lease.Release();
    ++refusals;
    if (clock().Now() >= deadline) {
      inv.queued = clock().Now() - arrival.monotonic;
      inv.code = Spec(ProxyError::kQueueTimeout).http_status;
      inv.error = ProxyError::kQueueTimeout;
      deps.meter.Finish(inv);
      const bool consumed = parser.is_done();
      const bool keep = co_await WriteError(ProxyError::kQueueTimeout, function_name, inv.request_id, version,
                                            consumed, client_keep_alive);
      co_return keep;
    }
    if (refusals >= 3) {
      const auto pause = std::min<Duration>(std::chrono::milliseconds(5 * (1 << std::min(refusals - 3, 5))),
                                            std::chrono::milliseconds(100));
      co_await PauseFor(std::min<Duration>(pause, deadline - clock().Now()));
      avoid.clear();
    }
    admission = Admission();
    if (!ClaimSlot(config, avoid, admission)) {
      co_await Admit(config, deadline, avoid, admission);
    }
  }

  // The replica's slot is free once the exchange is over: not held while
  // the billing line and an error answer to a slow client are written.
  admission.lease.Release();
  inv.forwarded = true;
  // Unread request bytes may still come (an early answer, a cut upload):
  // close gracefully. A request read to its end needs no lingering.
  if (!result.request_body_read && !parser.is_done()) linger_ = true;
  inv.bytes_in = result.bytes_in;
  inv.bytes_out = result.bytes_out;
  inv.error = result.error;
  if (result.response_started) {
    inv.code = result.status;
    deps.meter.Finish(inv);
    co_return result.error == ProxyError::kNone&& result.client_reusable;
  }
  if (result.error == ProxyError::kNone) {
    // Cannot happen: a relayed response always starts. Treat as a replica fault.
    inv.error = ProxyError::kUpstreamError;
  }
  inv.code = Spec(inv.error).http_status;
  deps.meter.Finish(inv);
  const bool consumed = parser.is_done();
  const bool keep =
      co_await WriteError(inv.error, function_name, inv.request_id, version, consumed, client_keep_alive);
  co_return keep;
}

asio::awaitable<std::optional<bool>> Proxy::Impl::Connection::PlaceCapped(
    RequestParser& parser, const std::shared_ptr<const FunctionConfig>& config, const ClientFacts& facts,
    const Arrival& arrival, bool relayed_in) {
  const ProxyDeps& deps = proxy_.deps_;
  Request& request = parser.get();
  const MonotonicTime deadline = arrival.monotonic + config->buffer_timeout;
  const unsigned version = facts.version;
  const bool keep_alive = facts.keep_alive;
  std::string upgrade;
  bool prepared = false;
  for (;;) {
    const Placement::Route where = deps.placement->RouteCapped(config->key);
    if (where.decision == Placement::Decision::kServe) {
      if (prepared) TakeRelayMark(request);  // the placement moved to us meanwhile
      co_return std::nullopt;
    }
    if (clock().Now() >= deadline || cut_.cut()) {
      // Never reached an owner that could take it: answered and metered
      // here, as the buffer would have.
      Invocation inv = InvocationOf(request, config, arrival.wall);
      inv.buffered = true;
      inv.queued = clock().Now() - arrival.monotonic;
      inv.error = cut_.cut() ? ProxyError::kShuttingDown : ProxyError::kQueueTimeout;
      inv.code = Spec(inv.error).http_status;
      deps.meter.Finish(inv);
      const std::string function_name = config->key.String();
      const bool keep = co_await WriteError(inv.error, function_name, inv.request_id, version,
                                            parser.is_done(), keep_alive);
      co_return keep;
    }
    // A request a member handed over is never handed on (no relay loops
    // while two views disagree): it waits here until this activator's view
    // makes it the owner with nobody else busy.
    if (where.decision == Placement::Decision::kRelay && !relayed_in) {
      if (!prepared) {
        upgrade = UpgradeToForward(request);
        PrepareRelayRequest(request, client_ip_, deps.placement->self(), upgrade);
        prepared = true;
      }
      Endpoint owner;
      if (ParseEndpoint(where.address, &owner)) {
        owner.pod = where.owner;
        const EndpointSlot slot(owner);
        ClientExchange exchange = ExchangeFor(parser, std::string_view(), facts, upgrade);
        // The owner may hold it for up to buffer.timeoutSeconds, then run it
        // for up to timeoutSeconds; it enforces both.
        const Duration limit = config->buffer_timeout + config->timeout + std::chrono::seconds(5);
        const ForwardResult result =
            co_await Forward(worker_.pool, exchange, slot, limit, proxy_.options_.forward, clock());
        if (!result.connect_failed) {
          deps.meter.OnRelayed(true);
          if (!result.request_body_read && !parser.is_done()) linger_ = true;
          if (result.response_started) co_return result.error == ProxyError::kNone&& result.client_reusable;
          const ProxyError error =
              result.error == ProxyError::kNone ? ProxyError::kUpstreamError : result.error;
          const std::string function_name = config->key.String();
          const std::string request_id = NewRequestId();
          const bool keep =
              co_await WriteError(error, function_name, request_id, version, parser.is_done(), keep_alive);
          co_return keep;
        }
        deps.meter.OnRelayed(false);
      }
    }
    // Held here as the new owner, or the owner could not be reached: look
    // again shortly (a new placement arrives with the next stats ack).
    co_await PauseFor(std::min<Duration>(std::chrono::milliseconds(20), deadline - clock().Now()));
  }
}

absl::StatusOr<std::unique_ptr<Proxy>> Proxy::Start(ProxyOptions options, ProxyDeps deps) {
  auto impl = std::make_unique<Impl>(std::move(options), deps);
  if (absl::Status s = impl->Bind(); !s.ok()) return s;
  impl->Run();
  return std::unique_ptr<Proxy>(new Proxy(std::move(impl)));
}

Proxy::Proxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Proxy::~Proxy() = default;
uint16_t Proxy::port() const { return impl_->port(); }
int64_t Proxy::open_connections() const { return impl_->open_connections(); }
void Proxy::Shutdown(std::chrono::milliseconds drain) { impl_->Shutdown(drain); }

}  // namespace zs::activator
