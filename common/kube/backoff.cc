#include "common/kube/backoff.h"

#include <algorithm>
#include <cmath>

namespace zs::kube {

Backoff::Backoff(Clock& clock, BackoffOptions options)
    : clock_(clock), options_(options), rng_(options.seed != 0 ? options.seed : std::random_device{}()) {}

Duration Backoff::Next() {
  MonotonicTime now = clock_.Now();
  if (has_last_ && now - last_failure_ > options_.reset_after) failures_ = 0;
  has_last_ = true;
  last_failure_ = now;

  const double max_ns = static_cast<double>(options_.max.count());
  double delay = static_cast<double>(options_.initial.count()) * std::pow(options_.factor, failures_);
  delay = std::min(delay, max_ns);
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> spread(1.0 - options_.jitter, 1.0 + options_.jitter);
    delay = std::min(delay * spread(rng_), max_ns);
  }
  // Bounded so that pow() stays finite.
  if (failures_ < 64) ++failures_;
  return Duration(static_cast<Duration::rep>(delay));
}

void Backoff::Reset() {
  failures_ = 0;
  has_last_ = false;
}

void StopSignal::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

bool StopSignal::stopped() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

bool StopSignal::WaitFor(Clock& clock, Duration d, Duration slice) {
  return WaitUntil(clock, clock.Now() + d, slice);
}

bool StopSignal::WaitUntil(Clock& clock, MonotonicTime deadline, Duration slice) {
  std::unique_lock lock(mu_);
  while (!stopped_) {
    MonotonicTime now = clock.Now();
    if (now >= deadline) return true;
    cv_.wait_for(lock, std::min<Duration>(deadline - now, slice));
  }
  return false;
}

}  // namespace zs::kube
