// Domain types of the autoscaler: what activators report, what the decision
// reads (Samples) and what it returns (Decision). Protobuf stays at the edge:
// proto_convert.h is the only place that knows the wire types.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace zs::autoscaler {

using namespace std::chrono_literals;

struct FunctionKey {
  std::string ns;
  std::string name;
  // The 0 that clang-tidy flags is the one `a < b` compares the synthesized <=>
  // result with: a false positive of clang-tidy before 18 (llvm-project#53961).
  // NOLINTNEXTLINE(modernize-use-nullptr)
  friend auto operator<=>(const FunctionKey&, const FunctionKey&) = default;
  friend bool operator==(const FunctionKey&, const FunctionKey&) = default;
  std::string String() const { return ns + "/" + name; }
};

// Load of one Function seen by one activator over one report window.
struct FunctionLoad {
  FunctionKey function;
  // Time-weighted average of requests in flight over the window.
  double average_concurrency = 0;
  double peak_concurrency = 0;
  // Requests that arrived during the window.
  uint64_t requests = 0;
  // Held in the cold-start buffer / in flight at the end of the window.
  uint32_t queued = 0;
  uint32_t in_flight = 0;
  // Arrival of the most recent request ever seen by this activator.
  std::optional<SystemTime> last_request_time;
};

// One report of one activator: the complete picture of its load. A Function
// the report does not mention has nothing queued or in flight there.
struct StatsReport {
  std::string activator_id;
  // When the activator measured the report, by its clock; absent when it did
  // not say (the controller then uses its own clock at ingestion).
  std::optional<SystemTime> window_end;
  Duration window = 1s;
  std::vector<FunctionLoad> functions;
};

// Concurrency summed over every activator during the one-second bucket that
// starts at `second`.
struct ConcurrencyPoint {
  MonotonicTime second;
  double concurrency = 0;
  friend bool operator==(const ConcurrencyPoint&, const ConcurrencyPoint&) = default;
};

// Everything Decide() needs to know about one Function's load and replicas.
// StatsAggregator fills the load part; the caller adds the replica counts it
// reads from the Deployment.
struct Samples {
  // Oldest first, at most one point per second; seconds without a point had
  // no load.
  std::vector<ConcurrencyPoint> concurrency;
  // Arrival of the most recent request at any activator (or a Wake call).
  std::optional<MonotonicTime> last_request_time;
  // Totals over the activators that reported recently.
  int64_t in_flight = 0;
  int64_t queued = 0;
  // Broker triggers' backlog as demand (TriggerBacklog): messages waiting
  // for the Function that the activators have not seen yet.
  int64_t backlog = 0;
  // Activators whose reports are fresh. 0 means we know nothing about load
  // (e.g. a controller that just became leader) and must not scale down.
  int live_activators = 0;
  // From the Deployment: pods ready, and spec.replicas as it is now.
  int32_t ready_replicas = 0;
  int32_t current_desired = 0;
};

// The algorithm's constants. Defaults are Knative KPA's, except that the
// target is not scaled by a utilization factor (docs/autoscaling.md: desired =
// ceil(stable average / targetConcurrency)).
struct Tuning {
  Duration stable_window = 60s;
  Duration panic_window = 6s;
  // Enter panic when the panic window asks for >= this many times the ready
  // replicas.
  double panic_threshold = 2.0;
  // One decision scales up to at most ceil(rate x ready) and down to at
  // least floor(ready / rate).
  double max_scale_up_rate = 1000.0;
  double max_scale_down_rate = 2.0;
};

// What Decide() remembers between calls for one Function. Value type; the
// caller stores it and passes it back.
struct DecisionState {
  // First Decide() for this Function by this process: the reference for
  // idleness when no request was ever seen (so a new leader does not zero
  // everything at once).
  std::optional<MonotonicTime> tracking_since;
  // Set while panicking: when panic began, and the last time the panic
  // condition held (panic ends a stable window after that).
  std::optional<MonotonicTime> panic_since;
  std::optional<MonotonicTime> last_panic_condition;
  // Highest replica count asked for during this panic.
  int32_t max_panic_replicas = 0;
  // When the last decision to go to zero was taken.
  std::optional<MonotonicTime> scaled_to_zero_at;
  friend bool operator==(const DecisionState&, const DecisionState&) = default;
};

struct Decision {
  int32_t desired = 0;
  DecisionState state;
  // Short, stable, for logs and Events: "stable", "panic", "idle", ...
  std::string reason;
  bool panicking = false;
  // The window averages the decision used, for logs and metrics.
  double stable_concurrency = 0;
  double panic_concurrency = 0;
};

}  // namespace zs::autoscaler
