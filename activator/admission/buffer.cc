#include "activator/admission/buffer.h"

#include <algorithm>

#include "activator/admission/balancer.h"
#include "common/log.h"

namespace zs::activator {

// Per-Function buffer state; shared with the Leases of its requests.
struct Lease::State {
  explicit State(FunctionKey k) : key(std::move(k)) {}

  const FunctionKey key;
  std::mutex mu;
  // Latest config seen by Acquire (maxConcurrency, limits).
  std::shared_ptr<const FunctionConfig> config;

  struct Waiter {
    uint64_t id;
    MonotonicTime enqueued;
    MonotonicTime deadline;
    bool cold;
    RequestBuffer::Callback callback;
  };
  // Ordered by deadline (ties by arrival), so expiry pops from the front.
  std::deque<Waiter> waiters;
  // waiters.size(), readable without the lock (Release's fast path).
  std::atomic<int64_t> waiting{0};

  enum class Wake { kIdle, kWaking, kActive };
  Wake wake = Wake::kIdle;
  // An activation is open from its first Wake until endpoints appear.
  bool activation_open = false;
  // A Wake of the open activation scaled the Function from zero (counted).
  bool activation_counted = false;
  MonotonicTime wake_sent{};
  MonotonicTime next_wake_allowed{};
  Duration wake_backoff{0};
  uint64_t wake_generation = 0;
  // Counted in RequestBuffer::holding_ (waiters not empty).
  bool holding = false;
  // The Function left the catalog: never held for, never woken again.
  bool forgotten = false;
};

struct RequestBuffer::Completion {
  Callback callback;
  Admission admission;
};

Lease::Lease(RequestBuffer* buffer, std::shared_ptr<State> state, std::shared_ptr<EndpointSlot> slot)
    : buffer_(buffer), state_(std::move(state)), slot_(std::move(slot)) {}

Lease::Lease(Lease&& other) noexcept
    : buffer_(std::exchange(other.buffer_, nullptr)),
      state_(std::move(other.state_)),
      slot_(std::move(other.slot_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    buffer_ = std::exchange(other.buffer_, nullptr);
    state_ = std::move(other.state_);
    slot_ = std::move(other.slot_);
  }
  return *this;
}

void Lease::Release() {
  if (!slot_) return;
  slot_->Release();
  slot_.reset();
  if (buffer_ != nullptr && state_ != nullptr) buffer_->OnRelease(state_);
  state_.reset();
  buffer_ = nullptr;
}

RequestBuffer::RequestBuffer(Options options, const Clock& clock, EndpointSource& endpoints, Waker& waker,
                             BufferEvents* events)
    : options_(options),
      clock_(clock),
      endpoints_(endpoints),
      waker_(waker),
      events_(events),
      alive_(std::make_shared<std::atomic<bool>>(true)) {
  endpoints_.Subscribe([this, alive = alive_](const FunctionKey& key, const EndpointSet& ready) {
    if (alive->load()) OnEndpoints(key, ready);
  });
}

RequestBuffer::~RequestBuffer() { alive_->store(false); }

std::shared_ptr<Lease::State> RequestBuffer::FindState(const FunctionKey& key) const {
  std::shared_lock lock(mu_);
  auto it = states_.find(key);
  return it == states_.end() ? nullptr : it->second;
}

std::shared_ptr<Lease::State> RequestBuffer::GetState(const FunctionKey& key) {
  if (auto state = FindState(key)) return state;
  std::unique_lock lock(mu_);
  auto& state = states_[key];
  if (!state) state = std::make_shared<State>(key);
  return state;
}

size_t RequestBuffer::functions() const {
  std::shared_lock lock(mu_);
  return states_.size();
}

void RequestBuffer::UpdateHoldingLocked(State& state) {
  const bool holding = !state.waiters.empty();
  if (holding == state.holding) return;
  state.holding = holding;
  holding_.fetch_add(holding ? 1 : -1, std::memory_order_relaxed);
}

int64_t RequestBuffer::queued(const FunctionKey& key) const {
  auto state = FindState(key);
  return state ? state->waiting.load() : 0;
}

std::optional<Admission> RequestBuffer::TryAcquire(const std::shared_ptr<const FunctionConfig>& config,
                                                   const std::vector<std::string>& avoid) {
  auto state = GetState(config->key);
  const auto ready = endpoints_.Ready(config->key);
  std::lock_guard lock(state->mu);
  if (state->forgotten) return std::nullopt;
  return ClaimLocked(state, *ready, config, avoid);
}

std::optional<Admission> RequestBuffer::ClaimLocked(const std::shared_ptr<State>& state,
                                                    const EndpointSet& ready,
                                                    const std::shared_ptr<const FunctionConfig>& config,
                                                    const std::vector<std::string>& avoid) {
  if (state->config != config) state->config = config;  // no reference count traffic when unchanged
  if (!state->waiters.empty()) return std::nullopt;
  auto slot = PickEndpoint(ready, config->max_concurrency, avoid.empty() ? nullptr : &avoid);
  if (!slot) return std::nullopt;
  Admission admission;
  admission.lease = Lease(this, state, std::move(slot));
  return admission;
}

std::optional<Admission> RequestBuffer::Acquire(const std::shared_ptr<const FunctionConfig>& config,
                                                MonotonicTime deadline, const std::vector<std::string>& avoid,
                                                Callback callback, uint64_t* held_id) {
  auto state = GetState(config->key);
  const auto ready = endpoints_.Ready(config->key);
  bool wake = false;
  bool cold_start = false;
  bool full = false;
  {
    std::lock_guard lock(state->mu);
    // Deleted between the catalog lookup and now.
    if (state->forgotten) return Admission{ProxyError::kUnknownFunction, Lease(), false, false, Duration{0}};
    // Nobody ahead: take a replica at once if one has room.
    if (auto claimed = ClaimLocked(state, *ready, config, avoid)) return claimed;
    const MonotonicTime now = clock_.Now();
    const auto held = static_cast<int64_t>(state->waiters.size());
    // The fair share of the total: max_total / (n + 1), n counting this Function.
    const int64_t holding_others = holding_.load(std::memory_order_relaxed) - (state->holding ? 1 : 0);
    const int64_t share = std::max<int64_t>(1, options_.max_total / (holding_others + 2));
    const int32_t max_requests =
        options_.placement != nullptr && config->max_concurrency == 0
            ? options_.placement->BufferShare(config->key, config->buffer_max_requests)
            : config->buffer_max_requests;
    full = held >= max_requests || held >= share;
    if (!full) {
      int64_t total = total_.load(std::memory_order_relaxed);
      do {
        if (total >= options_.max_total) {
          full = true;
          break;
        }
      } while (!total_.compare_exchange_weak(total, total + 1, std::memory_order_relaxed));
    }
    if (full) {
      // Turned away for lack of room, but still demand: a Function at zero
      // is woken so that the client's retry finds it up.
      wake = ShouldWakeLocked(*state, *ready, now, &cold_start, /*refused=*/true);
    } else {
      State::Waiter waiter{next_id_.fetch_add(1, std::memory_order_relaxed), now, deadline, ready->empty(),
                           std::move(callback)};
      if (held_id != nullptr) *held_id = waiter.id;
      // Insert by deadline; new arrivals normally go to the back in O(1).
      auto position = state->waiters.end();
      while (position != state->waiters.begin() && std::prev(position)->deadline > deadline) --position;
      state->waiters.insert(position, std::move(waiter));
      state->waiting.store(static_cast<int64_t>(state->waiters.size()), std::memory_order_relaxed);
      UpdateHoldingLocked(*state);
      wake = ShouldWakeLocked(*state, *ready, now, &cold_start);
    }
  }
  if (!full && events_ != nullptr) events_->OnQueued(*config, +1);
  if (wake) SendWake(state, cold_start);
  if (full) return Admission{ProxyError::kQueueFull, Lease(), false, false, Duration{0}};
  return std::nullopt;
}

bool RequestBuffer::Cancel(const FunctionKey& key, uint64_t held_id) {
  auto state = FindState(key);
  if (!state) return false;
  std::shared_ptr<const FunctionConfig> config;
  {
    std::lock_guard lock(state->mu);
    auto it = std::find_if(state->waiters.begin(), state->waiters.end(),
                           [&](const State::Waiter& waiter) { return waiter.id == held_id; });
    if (it == state->waiters.end()) return false;
    state->waiters.erase(it);
    state->waiting.store(static_cast<int64_t>(state->waiters.size()), std::memory_order_relaxed);
    UpdateHoldingLocked(*state);
    config = state->config;
  }
  std::vector<Completion> none;
  Finish(none, config.get(), 1);
  return true;
}

bool RequestBuffer::ForgetIfDeleted(const std::shared_ptr<State>& state) {
  if (options_.catalog == nullptr) return false;
  if (options_.catalog->Lookup(state->key.ns, state->key.name) != nullptr) return false;
  std::vector<Completion> completions;
  std::shared_ptr<const FunctionConfig> config;
  {
    std::lock_guard lock(state->mu);
    if (state->forgotten) return true;
    state->forgotten = true;
    const MonotonicTime now = clock_.Now();
    for (auto& waiter : state->waiters) {
      completions.push_back(Completion{
          std::move(waiter.callback),
          Admission{ProxyError::kUnknownFunction, Lease(), true, waiter.cold, now - waiter.enqueued}});
    }
    state->waiters.clear();
    state->waiting.store(0, std::memory_order_relaxed);
    UpdateHoldingLocked(*state);
    config = state->config;
  }
  {
    std::unique_lock lock(mu_);
    auto it = states_.find(state->key);
    if (it != states_.end() && it->second == state) states_.erase(it);
  }
  log::Info("function deleted: held requests answered 404",
            {{"function", state->key.String()}, {"held", static_cast<int64_t>(completions.size())}});
  Finish(completions, config.get(), static_cast<int>(completions.size()));
  return true;
}

bool RequestBuffer::ShouldWakeLocked(State& state, const EndpointSet& ready, MonotonicTime now,
                                     bool* cold_start, bool refused) {
  *cold_start = false;
  if (state.forgotten || !ready.empty() || (state.waiters.empty() && !refused)) return false;
  if (state.wake == State::Wake::kActive) state.wake = State::Wake::kIdle;  // lost its endpoints
  if (state.wake == State::Wake::kWaking) {
    if (now - state.wake_sent < options_.rewake_after) return false;
    state.wake = State::Wake::kIdle;  // the wake brought nothing: ask again
  }
  if (now < state.next_wake_allowed) return false;
  state.wake = State::Wake::kWaking;
  state.wake_sent = now;
  ++state.wake_generation;
  if (!state.activation_open) {
    state.activation_open = true;
    state.activation_counted = false;
    *cold_start = true;
  }
  return true;
}

void RequestBuffer::SendWake(const std::shared_ptr<State>& state, bool cold_start) {
  std::shared_ptr<const FunctionConfig> config;
  uint64_t generation = 0;
  {
    std::lock_guard lock(state->mu);
    config = state->config;
    generation = state->wake_generation;
  }
  log::Info("waking function", {{"function", state->key.String()}, {"cold_start", cold_start}});
  auto alive = alive_;
  waker_.Wake(state->key, [this, alive, state, config, generation](const absl::Status& status, bool scaled) {
    if (!alive->load()) return;
    if (events_ != nullptr) events_->OnWakeDone(*config, status);
    bool count = false;
    {
      std::lock_guard lock(state->mu);
      count = status.ok() && scaled && !state->activation_counted;
      if (count) state->activation_counted = true;
    }
    if (count && events_ != nullptr) events_->OnColdStart(*config);
    std::lock_guard lock(state->mu);
    if (state->wake_generation != generation || state->wake != State::Wake::kWaking) return;
    if (status.ok()) {
      state->wake_backoff = Duration{0};
      return;
    }
    log::Warn("wake failed", {{"function", state->key.String()}, {"error", std::string(status.message())}});
    state->wake = State::Wake::kIdle;
    state->wake_backoff = state->wake_backoff == Duration{0}
                              ? options_.wake_retry
                              : std::min<Duration>(state->wake_backoff * 2, std::chrono::seconds(30));
    state->next_wake_allowed = clock_.Now() + state->wake_backoff;
  });
}

void RequestBuffer::DispatchLocked(const std::shared_ptr<State>& state, const EndpointSet& ready,
                                   MonotonicTime now, std::vector<Completion>& out) {
  const int32_t max_concurrency = state->config ? state->config->max_concurrency : 0;
  while (!state->waiters.empty()) {
    State::Waiter& front = state->waiters.front();
    Admission admission;
    if (front.deadline <= now) {
      admission.error = ProxyError::kQueueTimeout;
    } else {
      auto slot = PickEndpoint(ready, max_concurrency);
      if (!slot) break;
      admission.lease = Lease(this, state, std::move(slot));
    }
    admission.queued = true;
    admission.cold_start = front.cold;
    admission.waited = now - front.enqueued;
    out.push_back(Completion{std::move(front.callback), std::move(admission)});
    state->waiters.pop_front();
  }
  // Expired waiters behind a waiter that could not be served yet: the deque
  // is deadline-ordered, so the front-most ones are the only candidates.
  while (!state->waiters.empty() && state->waiters.front().deadline <= now) {
    State::Waiter& front = state->waiters.front();
    out.push_back(Completion{std::move(front.callback), Admission{ProxyError::kQueueTimeout, Lease(), true,
                                                                  front.cold, now - front.enqueued}});
    state->waiters.pop_front();
  }
  state->waiting.store(static_cast<int64_t>(state->waiters.size()), std::memory_order_relaxed);
  UpdateHoldingLocked(*state);
}

void RequestBuffer::Finish(std::vector<Completion>& completions, const FunctionConfig* config, int dequeued) {
  if (dequeued > 0) {
    total_.fetch_sub(dequeued, std::memory_order_relaxed);
    if (events_ != nullptr && config != nullptr) events_->OnQueued(*config, -dequeued);
  }
  for (auto& completion : completions) completion.callback(std::move(completion.admission));
  completions.clear();
}

void RequestBuffer::OnEndpoints(const FunctionKey& key, const EndpointSet& ready) {
  auto state = FindState(key);
  if (!state) return;  // never had a request: nothing to serve or wake
  if (ForgetIfDeleted(state)) return;
  std::vector<Completion> completions;
  std::shared_ptr<const FunctionConfig> config;
  bool wake = false;
  bool cold_start = false;
  {
    std::lock_guard lock(state->mu);
    if (!ready.empty()) {
      state->wake = State::Wake::kActive;
      state->activation_open = false;
      state->wake_backoff = Duration{0};
      state->next_wake_allowed = MonotonicTime{};
    } else if (state->wake == State::Wake::kActive) {
      state->wake = State::Wake::kIdle;
    }
    const MonotonicTime now = clock_.Now();
    DispatchLocked(state, ready, now, completions);
    // Lost every endpoint with requests still held: a new activation.
    wake = ShouldWakeLocked(*state, ready, now, &cold_start);
    config = state->config;
  }
  Finish(completions, config.get(), static_cast<int>(completions.size()));
  if (wake) SendWake(state, cold_start);
}

void RequestBuffer::OnRelease(const std::shared_ptr<State>& state) {
  if (state->waiting.load(std::memory_order_relaxed) == 0) return;
  const auto ready = endpoints_.Ready(state->key);
  std::vector<Completion> completions;
  std::shared_ptr<const FunctionConfig> config;
  {
    std::lock_guard lock(state->mu);
    DispatchLocked(state, *ready, clock_.Now(), completions);
    config = state->config;
  }
  Finish(completions, config.get(), static_cast<int>(completions.size()));
}

void RequestBuffer::Tick() {
  std::vector<std::shared_ptr<State>> busy;
  {
    std::shared_lock lock(mu_);
    for (const auto& [key, state] : states_) {
      if (state->waiting.load(std::memory_order_relaxed) > 0) busy.push_back(state);
    }
  }
  for (const auto& state : busy) {
    if (ForgetIfDeleted(state)) continue;
    const auto ready = endpoints_.Ready(state->key);
    std::vector<Completion> completions;
    std::shared_ptr<const FunctionConfig> config;
    bool wake = false;
    bool cold_start = false;
    {
      std::lock_guard lock(state->mu);
      const MonotonicTime now = clock_.Now();
      DispatchLocked(state, *ready, now, completions);
      wake = ShouldWakeLocked(*state, *ready, now, &cold_start);
      config = state->config;
    }
    Finish(completions, config.get(), static_cast<int>(completions.size()));
    if (wake) SendWake(state, cold_start);
  }
}

void RequestBuffer::FailAll(ProxyError error) {
  std::vector<std::shared_ptr<State>> all;
  {
    std::shared_lock lock(mu_);
    for (const auto& [key, state] : states_) all.push_back(state);
  }
  for (const auto& state : all) {
    std::vector<Completion> completions;
    std::shared_ptr<const FunctionConfig> config;
    {
      std::lock_guard lock(state->mu);
      const MonotonicTime now = clock_.Now();
      for (auto& waiter : state->waiters) {
        completions.push_back(Completion{
            std::move(waiter.callback), Admission{error, Lease(), true, waiter.cold, now - waiter.enqueued}});
      }
      state->waiters.clear();
      state->waiting.store(0, std::memory_order_relaxed);
      UpdateHoldingLocked(*state);
      config = state->config;
    }
    Finish(completions, config.get(), static_cast<int>(completions.size()));
  }
}

}  // namespace zs::activator
