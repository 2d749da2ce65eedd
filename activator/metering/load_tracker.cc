#include "activator/metering/load_tracker.h"

#include <algorithm>

namespace zs::activator {

LoadTracker::LoadTracker(const Clock& clock, std::string activator_id)
    : clock_(clock), activator_id_(std::move(activator_id)), window_start_(clock.Now()) {}

std::shared_ptr<LoadTracker::Entry> LoadTracker::Get(const FunctionKey& key) {
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second;
  }
  std::unique_lock lock(mu_);
  auto& entry = entries_[key];
  if (!entry) {
    entry = std::make_shared<Entry>();
    entry->last_change = clock_.Now();
  }
  return entry;
}

void LoadTracker::Advance(Entry& entry, MonotonicTime now) {
  if (now > entry.last_change) {
    entry.area += static_cast<double>(entry.in_flight) * ToSeconds(now - entry.last_change);
    entry.last_change = now;
  }
}

void LoadTracker::OnArrival(const FunctionKey& key, bool capped) {
  auto entry = Get(key);
  const SystemTime wall = clock_.WallNow();
  std::lock_guard lock(entry->mu);
  ++entry->requests;
  entry->capped = capped;
  entry->last_request = wall;
}

void LoadTracker::OnQueued(const FunctionKey& key, int delta) {
  auto entry = Get(key);
  std::lock_guard lock(entry->mu);
  entry->queued = std::max<int64_t>(0, entry->queued + delta);
}

void LoadTracker::OnForwardStart(const FunctionKey& key) {
  auto entry = Get(key);
  const MonotonicTime now = clock_.Now();
  std::lock_guard lock(entry->mu);
  Advance(*entry, now);
  ++entry->in_flight;
  entry->peak = std::max(entry->peak, entry->in_flight);
}

void LoadTracker::OnForwardEnd(const FunctionKey& key) {
  auto entry = Get(key);
  const MonotonicTime now = clock_.Now();
  std::lock_guard lock(entry->mu);
  Advance(*entry, now);
  entry->in_flight = std::max<int64_t>(0, entry->in_flight - 1);
}

LoadReport LoadTracker::Collect() {
  std::lock_guard collect_lock(collect_mu_);
  const MonotonicTime now = clock_.Now();
  LoadReport report;
  report.activator_id = activator_id_;
  report.window_end = clock_.WallNow();
  report.window = now - window_start_;
  const double window_seconds = ToSeconds(report.window);
  {
    std::shared_lock lock(mu_);
    report.functions.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) {
      std::lock_guard entry_lock(entry->mu);
      Advance(*entry, now);
      FunctionLoad load;
      load.key = key;
      // A zero-length window (two collects at the same instant) reports the
      // instantaneous concurrency rather than dividing by zero.
      load.average_concurrency =
          window_seconds > 0 ? entry->area / window_seconds : static_cast<double>(entry->in_flight);
      load.peak_concurrency = static_cast<double>(entry->peak);
      load.requests = entry->requests;
      load.queued = static_cast<uint32_t>(entry->queued);
      load.in_flight = static_cast<uint32_t>(entry->in_flight);
      load.capped = entry->capped;
      load.last_request_time = entry->last_request;
      report.functions.push_back(std::move(load));
      // Next window starts from the current state.
      entry->area = 0;
      entry->peak = entry->in_flight;
      entry->requests = 0;
    }
  }
  window_start_ = now;
  std::sort(report.functions.begin(), report.functions.end(),
            [](const FunctionLoad& a, const FunctionLoad& b) {
              return a.key.ns != b.key.ns ? a.key.ns < b.key.ns : a.key.name < b.key.name;
            });
  return report;
}

void LoadTracker::Forget(const FunctionKey& key) {
  std::unique_lock lock(mu_);
  entries_.erase(key);
}

}  // namespace zs::activator
