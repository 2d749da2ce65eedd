#include "controller/autoscaler/stats_aggregator.h"

#include <algorithm>
#include <set>
#include <utility>

#include "controller/autoscaler/decide.h"

namespace zs::autoscaler {

StatsAggregator::StatsAggregator(Clock& clock, Options options)
    : clock_(clock), options_(std::move(options)) {}

bool StatsAggregator::LiveLocked(const std::string& activator_id, MonotonicTime now) const {
  auto it = last_seen_.find(activator_id);
  return it != last_seen_.end() && now - it->second <= options_.activator_expiry;
}

void StatsAggregator::PruneLocked(MonotonicTime now) {
  const MonotonicTime oldest_bucket =
      BucketOf(now) - std::chrono::ceil<std::chrono::seconds>(options_.retention);
  for (auto& [key, data] : functions_) {
    data.history.erase(data.history.begin(), data.history.lower_bound(oldest_bucket));
  }
  // Activators gone for long are forgotten entirely (their history stays).
  for (auto it = last_seen_.begin(); it != last_seen_.end();) {
    if (now - it->second > options_.activator_expiry + options_.retention) {
      for (auto& [key, data] : functions_) data.instant.erase(it->first);
      it = last_seen_.erase(it);
    } else {
      ++it;
    }
  }
}

bool StatsAggregator::KnownLocked(const FunctionKey& function) const {
  return !options_.known || options_.known(function);
}

void StatsAggregator::Ingest(const StatsReport& report) {
  const MonotonicTime now = clock_.Now();
  const SystemTime wall_now = clock_.WallNow();
  // When the activator measured this report, on our clock: by its age, which
  // must lie in [0, max_report_age]. A clock ahead of ours cannot put load
  // in the future; one far behind cannot put it in the past.
  MonotonicTime measured = now;
  if (report.window_end) {
    const Duration age = wall_now - *report.window_end;
    if (age >= Duration::zero() && age <= options_.max_report_age) measured = now - age;
  }
  const MonotonicTime bucket = BucketOf(measured);
  std::lock_guard lock(mu_);
  last_seen_[report.activator_id] = now;

  std::set<FunctionKey> mentioned;
  for (const FunctionLoad& load : report.functions) {
    if (!KnownLocked(load.function)) continue;
    mentioned.insert(load.function);
    FunctionData& data = functions_[load.function];
    Accumulator& acc = data.history[bucket][report.activator_id];
    acc.sum += std::max(0.0, load.average_concurrency);
    acc.count += 1;
    data.instant[report.activator_id] = Instant{load.queued, load.in_flight};

    // The last arrival's age is read on the activator's own clock (against
    // the report's window_end), so clock skew cancels out; a request counted
    // in this window happened at most one window before it was measured,
    // whatever its clock says.
    std::optional<MonotonicTime> arrival;
    if (load.last_request_time) {
      const SystemTime reference = report.window_end.value_or(wall_now);
      // Capped: older than the longest scaleToZeroAfterSeconds is "long ago"
      // (and keeps the subtraction far from overflow).
      const Duration age =
          std::clamp<Duration>(reference - *load.last_request_time, Duration::zero(), std::chrono::hours(48));
      arrival = measured - age;
    }
    if (load.requests > 0) {
      const MonotonicTime window_start = measured - std::max(report.window, Duration(1s));
      arrival = std::max(arrival.value_or(window_start), window_start);
    }
    if (arrival && (!data.last_request || *arrival > *data.last_request)) data.last_request = arrival;
  }
  // The report is this activator's full picture.
  for (auto& [key, data] : functions_) {
    if (!mentioned.contains(key)) data.instant.erase(report.activator_id);
  }
  PruneLocked(now);
}

bool StatsAggregator::NoteRequest(const FunctionKey& function) {
  const MonotonicTime now = clock_.Now();
  std::lock_guard lock(mu_);
  if (!KnownLocked(function)) return false;
  FunctionData& data = functions_[function];
  if (!data.last_request || now > *data.last_request) data.last_request = now;
  return true;
}

Samples StatsAggregator::SamplesFor(const FunctionKey& function) const {
  const MonotonicTime now = clock_.Now();
  std::lock_guard lock(mu_);
  Samples samples;
  for (const auto& [id, seen] : last_seen_) {
    if (now - seen <= options_.activator_expiry) ++samples.live_activators;
  }
  auto it = functions_.find(function);
  if (it == functions_.end()) return samples;
  const FunctionData& data = it->second;
  const MonotonicTime oldest_bucket =
      BucketOf(now) - std::chrono::ceil<std::chrono::seconds>(options_.retention);
  for (const auto& [bucket, by_activator] : data.history) {
    if (bucket < oldest_bucket) continue;
    double total = 0;
    for (const auto& [id, acc] : by_activator) total += acc.sum / acc.count;
    samples.concurrency.push_back({bucket, total});
  }
  for (const auto& [id, instant] : data.instant) {
    if (!LiveLocked(id, now)) continue;
    samples.queued += instant.queued;
    samples.in_flight += instant.in_flight;
  }
  samples.last_request_time = data.last_request;
  return samples;
}

std::vector<FunctionKey> StatsAggregator::Functions() const {
  std::lock_guard lock(mu_);
  std::vector<FunctionKey> keys;
  keys.reserve(functions_.size());
  for (const auto& [key, data] : functions_) keys.push_back(key);
  return keys;
}

int StatsAggregator::LiveActivators() const {
  const MonotonicTime now = clock_.Now();
  std::lock_guard lock(mu_);
  int live = 0;
  for (const auto& [id, seen] : last_seen_) {
    if (now - seen <= options_.activator_expiry) ++live;
  }
  return live;
}

void StatsAggregator::Forget(const FunctionKey& function) {
  std::lock_guard lock(mu_);
  functions_.erase(function);
}

}  // namespace zs::autoscaler
