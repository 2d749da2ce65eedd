#include "activator/metering/meter.h"

#include <mutex>

#include "activator/http/headers.h"

namespace zs::activator {

void AssignRequestId(Invocation& inv, std::string_view client_value) {
  inv.request_id = RequestIdFor(client_value);
  inv.client_request_id = inv.request_id == client_value ? inv.request_id : std::string();
}

Meter::Meter(Metrics& metrics, LoadTracker& load, BillingSink& billing, double default_memory_bytes)
    : metrics_(metrics), load_(load), billing_(billing), default_memory_bytes_(default_memory_bytes) {}

void Meter::Follow(InMemoryCatalog& catalog) {
  catalog_ = &catalog;
  catalog.OnRemoved([this](const FunctionConfig& removed) { Forget(removed); });
}

void Meter::Forget(const FunctionConfig& removed) {
  std::unique_lock lock(mu_);
  auto it = tracked_.find(removed.key);
  // A newer incarnation's state stays (its removal comes later).
  if (it != tracked_.end() && it->second.incarnation > removed.incarnation) return;
  if (it != tracked_.end()) tracked_.erase(it);
  // Under the lock: no event is using the series, and none can bring the
  // load entry back before the catalog's answer says the Function is gone.
  metrics_.Forget(removed.key);
  load_.Forget(removed.key);
}

bool Meter::IsLive(const FunctionConfig& config) const {
  if (catalog_ == nullptr) return true;
  auto current = catalog_->Lookup(config.key.ns, config.key.name);
  return current && current->incarnation == config.incarnation;
}

FunctionMetrics* Meter::Live(const FunctionConfig& config, std::shared_lock<std::shared_mutex>& lock) {
  lock = std::shared_lock(mu_);
  if (auto it = tracked_.find(config.key);
      it != tracked_.end() && it->second.incarnation == config.incarnation)
    return it->second.metrics;
  lock.unlock();
  {
    std::unique_lock write(mu_);
    if (!IsLive(config)) return nullptr;
    auto it = tracked_.find(config.key);
    if (it == tracked_.end() || it->second.incarnation != config.incarnation) {
      if (it != tracked_.end()) {
        // An older incarnation nobody removed (only without a catalog): its
        // figures are not this one's.
        metrics_.Forget(config.key);
        load_.Forget(config.key);
      }
      tracked_[config.key] = Tracked{config.incarnation, &metrics_.For(config.key)};
    }
  }
  lock = std::shared_lock(mu_);
  auto it = tracked_.find(config.key);
  if (it != tracked_.end() && it->second.incarnation == config.incarnation) return it->second.metrics;
  lock.unlock();  // removed in between
  return nullptr;
}

double Meter::MemoryBytes(const FunctionConfig& config) const {
  return config.memory_request_bytes.value_or(default_memory_bytes_);
}

void Meter::OnArrival(const FunctionConfig& config) {
  std::shared_lock<std::shared_mutex> lock;
  if (Live(config, lock) != nullptr) load_.OnArrival(config.key, config.max_concurrency > 0);
}

void Meter::OnForwardStart(const FunctionConfig& config) {
  std::shared_lock<std::shared_mutex> lock;
  if (FunctionMetrics* fm = Live(config, lock)) {
    fm->in_flight->Increment();
    load_.OnForwardStart(config.key);
  }
}

void Meter::OnForwardEnd(const FunctionConfig& config) {
  std::shared_lock<std::shared_mutex> lock;
  if (FunctionMetrics* fm = Live(config, lock)) {
    fm->in_flight->Decrement();
    load_.OnForwardEnd(config.key);
  }
}

void Meter::OnQueued(const FunctionConfig& config, int delta) {
  std::shared_lock<std::shared_mutex> lock;
  if (FunctionMetrics* fm = Live(config, lock)) {
    fm->queued->Increment(delta);
    load_.OnQueued(config.key, delta);
  }
}

void Meter::OnColdStart(const FunctionConfig& config) {
  std::shared_lock<std::shared_mutex> lock;
  if (FunctionMetrics* fm = Live(config, lock)) fm->cold_starts->Increment();
}

void Meter::OnWakeDone(const FunctionConfig&, const absl::Status& status) {
  metrics_.Wakes(status.ok()).Increment();
}

void Meter::Finish(const Invocation& inv) {
  std::shared_lock<std::shared_mutex> lock;
  FunctionMetrics* live = inv.function ? Live(*inv.function, lock) : nullptr;
  FunctionMetrics& fm = live != nullptr ? *live : metrics_.Unrouted();
  fm.Invocations(inv.code).Increment();
  if (inv.error != ProxyError::kNone && !Spec(inv.error).reason.empty()) fm.Rejected(inv.error).Increment();
  if (!inv.function) return;

  if (live != nullptr && inv.buffered) live->cold_wait->Observe(ToSeconds(inv.queued));
  int64_t billed_ms = 0;
  double gb_seconds = 0;
  const double memory = MemoryBytes(*inv.function);
  if (inv.forwarded) {
    billed_ms = BilledMillis(inv.forward_duration);
    gb_seconds = GbSeconds(billed_ms, memory);
    if (live != nullptr) {
      live->duration->Observe(ToSeconds(inv.forward_duration));
      live->gb_seconds->Increment(gb_seconds);
    }
  }
  if (lock.owns_lock()) lock.unlock();

  // Reused by this thread: assigning into strings that already have room
  // allocates nothing, so a steady stream of requests bills without the heap.
  thread_local InvocationRecord record;
  record.timestamp = inv.arrival_wall;
  if (inv.client_request_id.empty()) {
    record.request_id = inv.request_id;
    record.client_request_id.clear();
  } else {
    record.request_id = NewRequestId();
    record.client_request_id = inv.client_request_id;
  }
  record.ns = inv.function->key.ns;
  record.function = inv.function->key.name;
  record.method = inv.method;
  record.path = inv.path;
  record.code = inv.code;
  record.queued_ms = ToMillis(inv.queued);
  record.duration_ms = inv.forwarded ? ToMillis(inv.forward_duration) : 0;
  record.billed_ms = billed_ms;
  record.memory_mb = memory / kBytesPerMb;
  record.gb_seconds = gb_seconds;
  record.cold_start = inv.cold_start;
  record.bytes_in = inv.bytes_in;
  record.bytes_out = inv.bytes_out;
  record.pod = inv.pod;
  record.trigger = inv.trigger;
  billing_.Write(record);
}

}  // namespace zs::activator
