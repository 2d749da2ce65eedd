// Per-Function load as the autoscaler wants it: time-weighted average of
// requests in flight over a report window (the integral of the in-flight step
// function divided by the window length), the peak, the arrivals, and the
// instantaneous queued and in-flight counts at the window's end, plus the
// wall time of the last arrival (docs/autoscaling.md: idleness from last-request time,
// not from sampled concurrency).
//
// Lifecycle: the data path reports events; every --stats-interval the stats
// loop calls Collect(), which closes the window at clock.Now() and opens the
// next one. A Function's entry is created by its first event and stays until
// Forget() (the Function was deleted), so the controller keeps seeing its
// last request time.
//
// Thread-safety: all methods may be called from any thread; each Function's
// entry has its own mutex, the map of entries a shared one.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "activator/admission/function_config.h"
#include "common/clock.h"

namespace zs::activator {

struct FunctionLoad {
  FunctionKey key;
  double average_concurrency = 0;
  double peak_concurrency = 0;
  uint64_t requests = 0;
  uint32_t queued = 0;
  uint32_t in_flight = 0;
  std::optional<SystemTime> last_request_time;
  // maxConcurrency is set: one activator at a time serves it (placement.h).
  bool capped = false;
};

struct LoadReport {
  std::string activator_id;
  SystemTime window_end;
  Duration window{0};
  std::vector<FunctionLoad> functions;  // sorted by namespace, name
};

class LoadTracker {
 public:
  LoadTracker(const Clock& clock, std::string activator_id);

  // A request for `key` arrived (counted whatever becomes of it).
  // `capped`: the Function has a maxConcurrency (reported, see placement.h).
  void OnArrival(const FunctionKey& key, bool capped = false);
  // The buffer took (+1) or let go of (-1) a request.
  void OnQueued(const FunctionKey& key, int delta);
  // A request was forwarded to a replica / its forward ended.
  void OnForwardStart(const FunctionKey& key);
  void OnForwardEnd(const FunctionKey& key);

  // Closes the current window at clock.Now() and returns its figures.
  LoadReport Collect();
  void Forget(const FunctionKey& key);

 private:
  struct Entry {
    std::mutex mu;
    MonotonicTime last_change;
    double area = 0;  // in-flight x seconds since window start
    int64_t in_flight = 0;
    int64_t peak = 0;
    int64_t queued = 0;
    uint64_t requests = 0;
    bool capped = false;
    std::optional<SystemTime> last_request;
  };
  std::shared_ptr<Entry> Get(const FunctionKey& key);
  static void Advance(Entry& entry, MonotonicTime now);

  const Clock& clock_;
  const std::string activator_id_;
  std::shared_mutex mu_;
  std::unordered_map<FunctionKey, std::shared_ptr<Entry>, FunctionKeyHash> entries_;
  MonotonicTime window_start_;  // guarded by collect_mu_
  std::mutex collect_mu_;
};

}  // namespace zs::activator
