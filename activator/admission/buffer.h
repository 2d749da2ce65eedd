// Stage 2, buffer: admission of requests to replicas, and the cold-start
// wait when no replica can take them.
//
// Acquire() either claims a replica slot at once (the common case: a ready
// endpoint below maxConcurrency and nobody queued ahead), or rejects the
// request because the buffer is full (per Function: buffer.maxRequests; in
// total: Options::max_total), or holds it. Held requests are served FIFO by
// deadline as soon as capacity appears: when the Function's ready endpoints
// change (the EndpointSource broadcast) or a request on one of its replicas
// finishes (Lease release). Tick() fails those whose buffer.timeoutSeconds
// ran out (kQueueTimeout); FailAll() fails everything (drain deadline);
// Cancel() takes back one whose client left (it is never served).
//
// Fairness. The total is shared: a Function may hold at most
// max_total / (n + 1) requests, n being the number of Functions holding
// requests (itself included), so one Function's burst leaves room for others
// to cold-start. A request refused because the buffer is full still wakes
// its Function when it has no ready endpoint, so the next request finds it
// up.
//
// Deleted Functions. With Options::catalog set, a Function that left the
// catalog is forgotten at the next endpoint change or Tick: its held
// requests fail with kUnknownFunction (404) at once and it is never woken
// again; its state is freed.
//
// Waking. On the first held request of an activation (a request held while
// the Function has no ready endpoint) the buffer calls Waker::Wake once; the
// activation is counted as a cold start (BufferEvents::OnColdStart) when a
// Wake of it reports that it scaled the Function from zero, which the
// controller tells one caller only, so several activators holding requests
// for the same Function count one cold start between them. Later held requests do not call it again. A new
// activation (new Wake, new cold start) begins only after the Function had
// ready endpoints and lost them all. Within one activation Wake is called
// again (not counted as a cold start) when the previous call failed (after
// Options::wake_retry, doubling up to 30 s) or when it succeeded but still no
// endpoint is ready after Options::rewake_after (the controller may have
// lost the scale-up, e.g. to a scale-down race or a leader change), and only
// while requests are still held. Requests held only because every replica is
// at maxConcurrency never wake anything: the autoscaler sees them as load.
//
// Lifecycle: construct before traffic (it subscribes to the EndpointSource),
// destroy after every Lease and pending callback is gone. Tick() is called
// periodically by the proxy (every ~10 ms) with the injected clock's time.
//
// Thread-safety: all methods may be called from any thread. Each Function has
// its own mutex; callbacks, Waker calls and events run without it held.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "activator/admission/catalog.h"
#include "activator/admission/endpoints.h"
#include "activator/admission/function_config.h"
#include "activator/admission/placement.h"
#include "activator/admission/waker.h"
#include "activator/errors.h"
#include "common/clock.h"

namespace zs::activator {

class RequestBuffer;

// What the meter stage learns from the buffer.
class BufferEvents {
 public:
  virtual ~BufferEvents() = default;
  // The number of requests held for `config` changed by `delta`.
  virtual void OnQueued(const FunctionConfig& config, int delta) = 0;
  // An activation from zero began (a Wake for a Function with no endpoint).
  virtual void OnColdStart(const FunctionConfig& config) = 0;
  // A Wake call finished.
  virtual void OnWakeDone(const FunctionConfig& config, const absl::Status& status) = 0;
};

// A claimed request slot on one replica; releasing it (explicitly or by
// destruction) lets the next held request of the Function in.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { Release(); }

  explicit operator bool() const { return slot_ != nullptr; }
  const EndpointSlot& slot() const { return *slot_; }
  void Release();

 private:
  friend class RequestBuffer;
  struct State;
  Lease(RequestBuffer* buffer, std::shared_ptr<State> state, std::shared_ptr<EndpointSlot> slot);

  RequestBuffer* buffer_ = nullptr;
  std::shared_ptr<State> state_;
  std::shared_ptr<EndpointSlot> slot_;
};

struct Admission {
  ProxyError error = ProxyError::kNone;  // kNone, kQueueFull, kQueueTimeout or kShuttingDown
  Lease lease;                           // set when error == kNone
  bool queued = false;                   // the request waited in the buffer
  bool cold_start = false;               // ... while the Function had no ready endpoint
  Duration waited{0};
};

class RequestBuffer {
 public:
  struct Options {
    // Requests held across all Functions (--max-buffered-requests).
    int64_t max_total = 10'000;
    // First retry delay of a failed Wake; doubles up to 30 s.
    Duration wake_retry = std::chrono::seconds(1);
    // A successful Wake that brought no endpoint within this time is repeated.
    Duration rewake_after = std::chrono::seconds(30);
    // Where deleted Functions are noticed; null: never (tests of the buffer alone).
    const FunctionCatalog* catalog = nullptr;
    // With several activators: an uncapped Function's buffer.maxRequests is
    // split between them (Placement::BufferShare); null: all of it here.
    const Placement* placement = nullptr;
  };

  RequestBuffer(Options options, const Clock& clock, EndpointSource& endpoints, Waker& waker,
                BufferEvents* events);
  ~RequestBuffer();
  RequestBuffer(const RequestBuffer&) = delete;
  RequestBuffer& operator=(const RequestBuffer&) = delete;

  // Runs exactly once for a held request, on whichever thread served or
  // failed it. Must be quick and must not call back into the buffer
  // synchronously (post to your executor).
  using Callback = std::function<void(Admission)>;

  // Returns the admission when it is decided at once (a slot was claimed, or
  // the buffer is full); otherwise holds the request and returns nullopt, and
  // `callback` gets the admission later. `deadline` is when a held request
  // gives up (arrival + buffer.timeoutSeconds; a retry keeps its original
  // deadline). `avoid` lists addresses not to pick right now (endpoints that
  // just refused this request); a held request is not restricted by it.
  // When the request is held, `*held_id` (if given) names it for Cancel().
  std::optional<Admission> Acquire(const std::shared_ptr<const FunctionConfig>& config,
                                   MonotonicTime deadline, const std::vector<std::string>& avoid,
                                   Callback callback, uint64_t* held_id = nullptr);

  // Acquire's fast path, for the common case: claims a slot when nobody is
  // held ahead and a ready endpoint has room; nullopt otherwise (call
  // Acquire then, which decides again). Never holds, rejects or wakes, so
  // the caller needs no callback for it.
  std::optional<Admission> TryAcquire(const std::shared_ptr<const FunctionConfig>& config,
                                      const std::vector<std::string>& avoid);

  // Takes back a held request whose client went away: its callback never
  // runs. False when it was no longer held (its admission is on its way).
  bool Cancel(const FunctionKey& key, uint64_t held_id);

  // Fails held requests whose deadline passed, serves any that can now be
  // served, and repeats Wake calls as described above.
  void Tick();
  // Fails every held request with `error` (drain deadline).
  void FailAll(ProxyError error);

  int64_t total_queued() const { return total_.load(std::memory_order_relaxed); }
  // Functions with buffer state (held requests or history); for tests.
  size_t functions() const;
  int64_t queued(const FunctionKey& key) const;

 private:
  friend class Lease;
  using State = Lease::State;
  struct Completion;

  std::shared_ptr<State> GetState(const FunctionKey& key);
  std::shared_ptr<State> FindState(const FunctionKey& key) const;
  void OnEndpoints(const FunctionKey& key, const EndpointSet& ready);
  // With state->mu held: records `config` as the latest, and claims a slot
  // on a ready endpoint with room when nobody is held ahead.
  std::optional<Admission> ClaimLocked(const std::shared_ptr<State>& state, const EndpointSet& ready,
                                       const std::shared_ptr<const FunctionConfig>& config,
                                       const std::vector<std::string>& avoid);
  void OnRelease(const std::shared_ptr<State>& state);
  // With state->mu held: serves or expires waiters from the front.
  void DispatchLocked(const std::shared_ptr<State>& state, const EndpointSet& ready, MonotonicTime now,
                      std::vector<Completion>& out);
  // With state->mu held: whether a Wake should be sent now (and marks it
  // sent). `refused`: a request was just turned away for lack of room, which
  // is demand as much as a held one.
  bool ShouldWakeLocked(State& state, const EndpointSet& ready, MonotonicTime now, bool* cold_start,
                        bool refused = false);
  // Fails the held requests of a Function that left the catalog and forgets
  // it; true if it did.
  bool ForgetIfDeleted(const std::shared_ptr<State>& state);
  // Keeps holding_ in step with whether `state` holds requests (state->mu held).
  void UpdateHoldingLocked(State& state);
  void SendWake(const std::shared_ptr<State>& state, bool cold_start);
  void Finish(std::vector<Completion>& completions, const FunctionConfig* config, int dequeued);

  const Options options_;
  const Clock& clock_;
  EndpointSource& endpoints_;
  Waker& waker_;
  BufferEvents* const events_;
  std::atomic<int64_t> total_{0};
  // Functions holding at least one request (for the fair share).
  std::atomic<int64_t> holding_{0};
  std::atomic<uint64_t> next_id_{1};
  mutable std::shared_mutex mu_;
  std::unordered_map<FunctionKey, std::shared_ptr<State>, FunctionKeyHash> states_;
  // Set by the destructor so that a late endpoint broadcast is ignored.
  std::shared_ptr<std::atomic<bool>> alive_;
};

}  // namespace zs::activator
