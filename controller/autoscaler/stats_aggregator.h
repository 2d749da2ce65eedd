// StatsAggregator: the controller's view of load, built from the reports that
// every activator streams once a second, turned into Samples for Decide().
//
// - Keyed by activator id: a report replaces that activator's previous
//   figures (a reconnecting activator is not counted twice), and a Function
//   it no longer mentions has nothing queued or in flight there.
// - An activator silent for `activator_expiry` stops counting (its queued and
//   in-flight figures vanish; the concurrency it already reported stays in the
//   history, because that load was real).
// - Concurrency is kept per one-second bucket for `retention` (the stable
//   window), bucketed by when the activator measured it (the report's
//   window_end), mapped to the controller's monotonic clock by its age and
//   range-checked: a time ahead of the controller's clock, or older than
//   `max_report_age`, is taken as now. Reports from one activator landing in
//   the same bucket are averaged, reports from different ones summed.
// - The last request time per Function is the latest ever heard of; it does
//   not expire with the activator that reported it. Its age is measured on
//   the activator's own clock (window_end - last_request_time), so a skewed
//   clock moves it by at most `max_report_age`, and a clock running ahead
//   cannot make an old request look new.
// - Only Functions that `known` accepts get any state (a Wake or a report for
//   a deleted or never-created name creates nothing); Forget() frees one.
//
// Lifecycle: one per controller process; Forget() a deleted Function.
// Thread-safety: every method may be called from any thread (one mutex;
// `known` is called under it, so it must not call back into the aggregator).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controller/autoscaler/types.h"

namespace zs::autoscaler {

class StatsAggregator {
 public:
  struct Options {
    // How long concurrency history is kept; at least the stable window.
    Duration retention = 60s;
    // A silent activator's instantaneous figures stop counting after this.
    Duration activator_expiry = 5s;
    // A report measured longer ago than this by its own clock (a clock
    // behind ours, or a report stuck on the way) is taken as measured now.
    Duration max_report_age = 2s;
    // Whether a Function exists; null accepts every name.
    std::function<bool(const FunctionKey&)> known;
  };

  explicit StatsAggregator(Clock& clock) : StatsAggregator(clock, Options{}) {}
  StatsAggregator(Clock& clock, Options options);

  void Ingest(const StatsReport& report);
  // A request known to have arrived now outside a report (a Wake call), so
  // that the next decision does not see the Function as idle. False (and
  // nothing recorded) for a Function `known` does not accept.
  bool NoteRequest(const FunctionKey& function);
  // Load part of Samples (ready_replicas/current_desired left 0).
  Samples SamplesFor(const FunctionKey& function) const;
  // Functions with any data (history, counts or a last request).
  std::vector<FunctionKey> Functions() const;
  int LiveActivators() const;
  void Forget(const FunctionKey& function);

 private:
  struct Accumulator {
    double sum = 0;
    int count = 0;
  };
  struct Instant {
    uint32_t queued = 0;
    uint32_t in_flight = 0;
  };
  struct FunctionData {
    // bucket -> activator id -> reports in that bucket
    std::map<MonotonicTime, std::map<std::string, Accumulator>> history;
    std::map<std::string, Instant> instant;  // activator id -> latest figures
    std::optional<MonotonicTime> last_request;
  };

  bool LiveLocked(const std::string& activator_id, MonotonicTime now) const;
  bool KnownLocked(const FunctionKey& function) const;
  void PruneLocked(MonotonicTime now);

  Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::map<std::string, MonotonicTime> last_seen_;  // activator id -> last report
  std::map<FunctionKey, FunctionData> functions_;
};

}  // namespace zs::autoscaler
