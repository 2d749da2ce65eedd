// Every Prometheus metric the activator exports, declared in this one file
// (one place per component). Names and labels are the documented ones
// (docs/metrics-and-billing.md); the zeroscale_activator_* ones are internals.
//
// Per-Function children are created once and cached (FunctionMetrics), so the
// data path touches only atomics, not the label maps of prometheus-cpp's
// families. A Function's series are removed when it is deleted (Forget), so
// label sets of deleted Functions do not pile up; Prometheus marks them stale
// at the next scrape, which rate() and increase() handle as an ended series.
//
// Thread-safety: all methods may be called from any thread, except that
// Forget(key) must not race a user of the FunctionMetrics of that key (the
// Meter, the only user, guarantees it with its own lock).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "activator/admission/function_config.h"
#include "activator/errors.h"

namespace zs::activator {

// The series of one Function (or of the unrouted pseudo-function with empty
// namespace and name, for requests that never named a known Function).
class FunctionMetrics {
 public:
  prometheus::Counter& Invocations(int code);
  // Only for errors whose Spec() has a reason.
  prometheus::Counter& Rejected(ProxyError error);

  // Null for Unrouted(): it has only Invocations() and Rejected().
  prometheus::Histogram* duration = nullptr;   // zeroscale_invocation_duration_seconds
  prometheus::Histogram* cold_wait = nullptr;  // zeroscale_cold_start_wait_seconds
  prometheus::Counter* cold_starts = nullptr;  // zeroscale_cold_starts_total
  prometheus::Counter* gb_seconds = nullptr;   // zeroscale_billable_gb_seconds_total
  prometheus::Gauge* in_flight = nullptr;      // zeroscale_requests_in_flight
  prometheus::Gauge* queued = nullptr;         // zeroscale_requests_queued

 private:
  friend class Metrics;
  FunctionMetrics(class Metrics* owner, std::string ns, std::string name);
  // Removes every child of this Function from its family.
  void RemoveAll();

  class Metrics* owner_;
  const std::string ns_;
  const std::string name_;
  std::mutex mu_;
  std::unordered_map<int, prometheus::Counter*> by_code_;
  std::array<std::atomic<prometheus::Counter*>, 16> by_reason_{};
};

class Metrics {
 public:
  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  FunctionMetrics& For(const FunctionKey& key);
  FunctionMetrics& Unrouted() { return *unrouted_; }
  // Removes the Function's series from the exposition; a later For(key)
  // starts new ones at zero. See the thread-safety note above.
  void Forget(const FunctionKey& key);
  // Functions with series (tests).
  size_t function_count() const;

  // The billing log (billing.h): lines written, lines not written by reason
  // (queue_full: the writer was behind by more than its bound; write_error:
  // given up after write errors at shutdown), failed write(2) calls, and the
  // bytes waiting in memory.
  prometheus::Counter& billing_lines_written() { return *billing_written_; }
  prometheus::Counter& BillingLinesDropped(std::string_view reason);
  prometheus::Counter& billing_write_errors() { return *billing_write_errors_; }
  prometheus::Gauge& billing_pending_bytes() { return *billing_pending_bytes_; }

  // Connections closed before a request could be read (reason:
  // header_timeout, idle_timeout) or accepts that failed (accept_error).
  prometheus::Counter& ConnectionsClosed(std::string_view reason);
  // Connects to a ready endpoint that failed and were retried.
  prometheus::Counter& connect_retries() { return *connect_retries_; }
  // Requests relayed to the owner of a capped Function (placement.h), and
  // connects to an owner that failed.
  prometheus::Counter& Relayed(bool reached) { return reached ? *relayed_ : *relay_unreachable_; }
  prometheus::Gauge& placement_activators() { return *placement_activators_; }
  // Wake calls to the controller by result: ok, error.
  prometheus::Counter& Wakes(bool ok) { return ok ? *wakes_ok_ : *wakes_error_; }
  prometheus::Gauge& open_connections() { return *open_connections_; }

  static const prometheus::Histogram::BucketBoundaries& DurationBuckets();
  static const prometheus::Histogram::BucketBoundaries& ColdWaitBuckets();

 private:
  friend class FunctionMetrics;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& invocations_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& cold_wait_;
  prometheus::Family<prometheus::Counter>& cold_starts_;
  prometheus::Family<prometheus::Counter>& gb_seconds_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Gauge>& queued_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& connections_closed_;
  prometheus::Counter* connect_retries_;
  prometheus::Counter* relayed_;
  prometheus::Gauge* placement_activators_;
  prometheus::Counter* relay_unreachable_;
  prometheus::Counter* wakes_ok_;
  prometheus::Counter* wakes_error_;
  prometheus::Gauge* open_connections_;
  prometheus::Family<prometheus::Counter>& billing_dropped_;
  prometheus::Counter* billing_written_;
  prometheus::Counter* billing_write_errors_;
  prometheus::Gauge* billing_pending_bytes_;

  mutable std::shared_mutex mu_;
  std::unordered_map<FunctionKey, std::unique_ptr<FunctionMetrics>, FunctionKeyHash> functions_;
  std::unique_ptr<FunctionMetrics> unrouted_;
  std::mutex closed_mu_;
  std::unordered_map<std::string, prometheus::Counter*> closed_;
  std::unordered_map<std::string, prometheus::Counter*> billing_dropped_by_reason_;  // under closed_mu_
};

}  // namespace zs::activator
