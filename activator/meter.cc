#include "activator/meter.h"

namespace zs::activator {

Meter::Meter(Metrics& metrics, LoadTracker& load, BillingSink& billing, double default_memory_bytes)
    : metrics_(metrics), load_(load), billing_(billing), default_memory_bytes_(default_memory_bytes) {}

double Meter::MemoryBytes(const FunctionConfig& config) const {
  return config.memory_request_bytes.value_or(default_memory_bytes_);
}

void Meter::OnArrival(const FunctionConfig& config) { load_.OnArrival(config.key); }

void Meter::OnForwardStart(const FunctionConfig& config) {
  metrics_.For(config.key).in_flight->Increment();
  load_.OnForwardStart(config.key);
}

void Meter::OnForwardEnd(const FunctionConfig& config) {
  metrics_.For(config.key).in_flight->Decrement();
  load_.OnForwardEnd(config.key);
}

void Meter::OnQueued(const FunctionConfig& config, int delta) {
  metrics_.For(config.key).queued->Increment(delta);
  load_.OnQueued(config.key, delta);
}

void Meter::OnColdStart(const FunctionConfig& config) { metrics_.For(config.key).cold_starts->Increment(); }

void Meter::OnWakeDone(const FunctionConfig&, const absl::Status& status) {
  metrics_.Wakes(status.ok()).Increment();
}

void Meter::Finish(const Invocation& inv) {
  FunctionMetrics& fm = inv.function ? metrics_.For(inv.function->key) : metrics_.Unrouted();
  fm.Invocations(inv.code).Increment();
  if (inv.error != ProxyError::kNone && !Spec(inv.error).reason.empty()) fm.Rejected(inv.error).Increment();
  if (!inv.function) return;

  if (inv.buffered) fm.cold_wait->Observe(ToSeconds(inv.queued));
  int64_t billed_ms = 0;
  double gb_seconds = 0;
  const double memory = MemoryBytes(*inv.function);
  if (inv.forwarded) {
    fm.duration->Observe(ToSeconds(inv.forward_duration));
    billed_ms = BilledMillis(inv.forward_duration);
    gb_seconds = GbSeconds(billed_ms, memory);
    fm.gb_seconds->Increment(gb_seconds);
  }

  InvocationRecord record;
  record.timestamp = inv.arrival_wall;
  record.request_id = inv.request_id;
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
  billing_.Write(record);
}

}  // namespace zs::activator
