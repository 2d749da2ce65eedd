#include "controller/reconciler/failure_backoff.h"

#include <algorithm>
#include <cmath>

namespace zs::controller {

FailureBackoff::FailureBackoff(Clock& clock, FailureBackoffOptions options)
    : clock_(clock), options_(options), rng_(options.seed != 0 ? options.seed : std::random_device{}()) {}

std::optional<Duration> FailureBackoff::Blocked(const std::string& key, const std::string& token) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.token != token) return std::nullopt;
  const MonotonicTime now = clock_.Now();
  if (now >= it->second.retry_at) return std::nullopt;
  return it->second.retry_at - now;
}

Duration FailureBackoff::Failed(const std::string& key, const std::string& token) {
  std::lock_guard lock(mu_);
  Entry& entry = entries_[key];
  if (entry.token != token) entry = Entry{token};
  ++entry.failures;
  const double base = ToSeconds(options_.initial) * std::pow(options_.factor, entry.failures - 1);
  double seconds = std::min(base, ToSeconds(options_.max));
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> spread(1.0 - options_.jitter, 1.0 + options_.jitter);
    seconds = std::min(seconds * spread(rng_), ToSeconds(options_.max));
  }
  const auto delay = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  entry.retry_at = clock_.Now() + delay;
  return delay;
}

void FailureBackoff::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  entries_.erase(key);
}

int FailureBackoff::Failures(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.failures;
}

size_t FailureBackoff::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace zs::controller
