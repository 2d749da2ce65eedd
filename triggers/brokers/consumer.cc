#include "triggers/brokers/consumer.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "common/log.h"
#include "common/strings.h"

namespace zs::triggers {
namespace {

bool IsForwardable(const std::string& name, const std::string& value) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name) {
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.';
    if (!token) return false;
  }
  for (char c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  if (api::IsReservedTriggerHeader(name)) return false;
  // Beyond what a trigger's own headers may not be: hop-by-hop headers of the
  // publisher's, and the request id, which names the message instead.
  const std::string lower = absl::AsciiStrToLower(name);
  return lower != "expect" && lower != "upgrade" && lower != "te" && lower != "x-request-id";
}

std::string Describe(const InvocationResult& result, std::chrono::milliseconds timeout) {
  if (result.status != 0) return Cat("HTTP ", result.status);
  if (result.error.find("imeout") != std::string::npos ||
      result.error.find("imed out") != std::string::npos) {
    return Cat("no answer within ", timeout.count() / 1000, " s (", result.error, ")");
  }
  return result.error.empty() ? std::string("no answer") : result.error;
}

}  // namespace

Consumer::Consumer(std::unique_ptr<MessageSource> source, Invoker& invoker, Clock& clock,
                   TriggerMetrics& metrics, ConsumerSettings settings)
    : source_(std::move(source)),
      invoker_(invoker),
      clock_(clock),
      metrics_(metrics),
      settings_(std::move(settings)),
      reconnect_delay_(settings_.reconnect_initial) {
  state_.reason = "Connecting";
}

// Run() returns only after Drain(), which waits for every callback: none
// can outlive the consumer.
Consumer::~Consumer() = default;

std::chrono::milliseconds Consumer::Backoff(const api::DeliverySpec& delivery, int64_t attempt) {
  const int64_t cap_ms = int64_t{delivery.max_backoff_seconds} * 1000;
  int64_t ms = int64_t{delivery.backoff_seconds} * 1000;
  for (int64_t i = 1; i < attempt && ms < cap_ms; ++i) ms *= 2;
  return std::chrono::milliseconds(std::min(ms, cap_ms));
}

Invocation Consumer::BuildInvocation(const ConsumerSettings& settings, const Message& message) {
  Invocation inv;
  inv.url = settings.url;
  inv.method = settings.method;
  inv.timeout = settings.invocation_timeout;
  inv.body = message.body;
  bool content_type = false;
  auto add = [&](const std::string& name, const std::string& value) {
    if (absl::AsciiStrToLower(name) == "content-type") {
      if (content_type) return;
      content_type = true;
    }
    inv.headers.emplace_back(name, value);
  };
  // The message's own headers first: a Content-Type the publisher set wins
  // over the trigger's default.
  for (const auto& [name, value] : message.headers) {
    if (IsForwardable(name, value)) add(name, value);
  }
  if (!message.content_type.empty()) add("Content-Type", message.content_type);
  for (const auto& [name, value] : settings.headers) add(name, value);
  inv.headers.emplace_back("X-Zeroscale-Trigger", settings.id.trigger);
  inv.headers.emplace_back("X-Zeroscale-Message-Id", message.id);
  inv.headers.emplace_back(settings.subject_header, message.subject);
  inv.headers.emplace_back("X-Zeroscale-Attempt", std::to_string(message.attempt));
  // The same for every attempt: the Function's idempotency key.
  inv.headers.emplace_back("X-Request-Id", Cat("trigger-", settings.id.ns, "-", settings.id.function, "-",
                                               settings.id.trigger, "-", message.id));
  return inv;
}

ConsumerState Consumer::State() const {
  std::lock_guard lock(mu_);
  return state_;
}

void Consumer::Disconnected(const absl::Status& status, const char* reason) {
  const bool was = connected_;
  connected_ = false;
  {
    std::lock_guard lock(mu_);
    state_.connected = false;
    state_.reason = reason;
    state_.message = std::string(status.message());
  }
  metrics_.SetConnected(settings_.id, false);
  if (was) {
    log::Warn("broker trigger disconnected", {{"namespace", settings_.id.ns},
                                              {"function", settings_.id.function},
                                              {"trigger", settings_.id.trigger},
                                              {"error", std::string(status.message())}});
  }
}

bool Consumer::Connect(const std::stop_token& stop) {
  const absl::Status status = source_->Connect();
  if (status.ok()) {
    connected_ = true;
    reconnect_delay_ = settings_.reconnect_initial;
    {
      std::lock_guard lock(mu_);
      state_.connected = dead_letter_error_.empty();
      state_.reason = dead_letter_error_.empty() ? "" : "DeadLetterFailed";
      state_.message = dead_letter_error_;
    }
    metrics_.SetConnected(settings_.id, true);
    log::Info("broker trigger connected", {{"namespace", settings_.id.ns},
                                           {"function", settings_.id.function},
                                           {"trigger", settings_.id.trigger}});
    RefreshLag(true);
    return true;
  }
  Disconnected(status);
  // Settle what finishes meanwhile (acks fail while disconnected; those
  // messages are redelivered), then wait before the next attempt.
  const auto until = std::chrono::steady_clock::now() + reconnect_delay_;
  while (!stop.stop_requested() && std::chrono::steady_clock::now() < until) {
    WaitForCompletion(stop, std::chrono::duration_cast<std::chrono::milliseconds>(
                                until - std::chrono::steady_clock::now()));
    Settle();
  }
  reconnect_delay_ = std::min(reconnect_delay_ * 2, settings_.reconnect_max);
  return false;
}

void Consumer::RefreshLag(bool force) {
  const MonotonicTime now = clock_.Now();
  if (!force && now < next_lag_) return;
  next_lag_ = now + settings_.lag_every;
  absl::StatusOr<int64_t> lag = source_->Lag();
  if (!lag.ok()) return Disconnected(lag.status());
  {
    std::lock_guard lock(mu_);
    state_.lag = *lag;
  }
  metrics_.SetPending(settings_.id, static_cast<double>(*lag));
}

void Consumer::Start(Message message) {
  const uint64_t key = next_key_++;
  Invocation inv = BuildInvocation(settings_, message);
  {
    std::lock_guard lock(mu_);
    ++state_.fired;
    state_.last_fire = clock_.WallNow();
  }
  auto handle = invoker_.Start(std::move(inv), [this, key](const InvocationResult& result) {
    {
      std::lock_guard lock(mu_);
      completed_.push_back({key, result});
    }
    completed_cv_.notify_all();
  });
  flights_.emplace_back(key, Flight{std::move(message), std::move(handle)});
}

void Consumer::WaitForCompletion(const std::stop_token& stop, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  completed_cv_.wait_for(lock, stop, timeout, [this] { return !completed_.empty(); });
}

void Consumer::Settle() {
  std::deque<Done> done;
  {
    std::lock_guard lock(mu_);
    done.swap(completed_);
  }
  for (Done& d : done) {
    auto it = std::find_if(flights_.begin(), flights_.end(), [&](const auto& f) { return f.first == d.key; });
    if (it == flights_.end()) continue;
    Flight flight = std::move(it->second);
    flights_.erase(it);
    SettleOne(flight, d.result);
  }
}

void Consumer::SettleOne(const Flight& flight, const InvocationResult& result) {
  const Message& m = flight.message;
  if (result.cancelled) return;  // shutting down: left to the broker to redeliver
  const bool ok = result.status >= 200 && result.status < 300;
  if (ok) {
    {
      std::lock_guard lock(mu_);
      ++state_.succeeded;
      state_.last_success = clock_.WallNow();
    }
    metrics_.CountEvent(settings_.id, "success");
    // A failed ack means a second delivery later: at least once.
    if (absl::Status acked = source_->Ack(m); !acked.ok()) Disconnected(acked);
    return;
  }
  {
    std::lock_guard lock(mu_);
    ++state_.failed;
  }
  metrics_.CountEvent(settings_.id, "failure");
  const std::string error = Describe(result, settings_.invocation_timeout);
  if (m.attempt >= settings_.delivery.max_attempts) {
    const std::string trigger = Cat(settings_.id.ns, "/", settings_.id.function, "/", settings_.id.trigger);
    absl::Status dead = source_->DeadLetter(m, error, trigger);
    if (!dead.ok()) {
      // Not acknowledged: the broker redelivers it, and its next failure
      // (or this same attempt count) dead-letters it again.
      log::Warn("dead-lettering failed; the message stays",
                {{"trigger", trigger}, {"message", m.id}, {"error", std::string(dead.message())}});
      dead_letter_error_ = std::string(dead.message());
      std::lock_guard lock(mu_);
      state_.connected = false;
      state_.reason = "DeadLetterFailed";
      state_.message = dead_letter_error_;
      return;
    }
    {
      std::lock_guard lock(mu_);
      ++state_.dead_lettered;
      if (!dead_letter_error_.empty()) {
        dead_letter_error_.clear();
        state_.connected = connected_;
        state_.reason.clear();
        state_.message.clear();
      }
    }
    metrics_.CountEvent(settings_.id, "dead_lettered");
    log::Info("message dead-lettered",
              {{"trigger", trigger}, {"message", m.id}, {"attempts", m.attempt}, {"error", error}});
    return;
  }
  if (absl::Status retried = source_->Retry(m, Backoff(settings_.delivery, m.attempt)); !retried.ok()) {
    Disconnected(retried);
  }
}

void Consumer::Drain() {
  const auto until = std::chrono::steady_clock::now() + settings_.drain;
  std::stop_source never;
  while (!flights_.empty() && std::chrono::steady_clock::now() < until) {
    WaitForCompletion(never.get_token(), std::chrono::duration_cast<std::chrono::milliseconds>(
                                             until - std::chrono::steady_clock::now()));
    Settle();
  }
  for (auto& [key, flight] : flights_) flight.handle->Cancel();
  // Wait for the cancelled callbacks, so none outlives this object.
  while (!flights_.empty()) {
    WaitForCompletion(never.get_token(), settings_.settle_every);
    Settle();
  }
}

void Consumer::Run(const std::stop_token& stop) {
  const int max_in_flight = std::max(1, settings_.delivery.max_in_flight);
  while (!stop.stop_requested()) {
    if (!connected_ && !Connect(stop)) continue;
    Settle();
    if (!connected_) continue;
    RefreshLag(false);
    if (!connected_) continue;
    const int free = max_in_flight - static_cast<int>(flights_.size());
    if (free <= 0) {
      WaitForCompletion(stop, settings_.fetch_wait);
      continue;
    }
    const auto wait = flights_.empty() ? settings_.fetch_wait : settings_.settle_every;
    absl::StatusOr<std::vector<Message>> messages = source_->Fetch(free, wait);
    if (!messages.ok()) {
      Disconnected(messages.status());
      continue;
    }
    for (Message& m : *messages) Start(std::move(m));
  }
  Drain();
}

}  // namespace zs::triggers
