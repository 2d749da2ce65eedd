// Exponential backoff with jitter for reconnects and retries, timed by the
// injected Clock (so tests advance a ManualClock instead of sleeping).
//
// Next() returns min(initial * factor^n, max) scaled by a random factor in
// [1 - jitter, 1 + jitter] and capped at max, n counting failures since the
// last Reset(). A failure more than `reset_after` after the previous one
// starts again from `initial` (client-go's backoff manager does the same, so
// a watch that ran fine for minutes reconnects fast).
//
// Thread-compatible: one owner (e.g. the reflector thread).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>

#include "common/clock.h"

namespace zs::kube {

struct BackoffOptions {
  Duration initial = std::chrono::milliseconds(200);
  Duration max = std::chrono::seconds(30);
  double factor = 2.0;
  double jitter = 0.2;  // 0 = deterministic
  Duration reset_after = std::chrono::minutes(2);
  uint64_t seed = 0;  // 0 = random seed
};

class Backoff {
 public:
  Backoff(Clock& clock, BackoffOptions options = {});
  // The delay to wait before the next attempt; counts one failure.
  Duration Next();
  void Reset();
  int failures() const { return failures_; }

 private:
  Clock& clock_;
  const BackoffOptions options_;
  std::mt19937_64 rng_;
  int failures_ = 0;
  bool has_last_ = false;
  MonotonicTime last_failure_{};
};

// A stop flag whose waits end as soon as it is raised: the loops of the
// informer, the leader elector and the node agent wait on it between
// attempts.
//
// WaitFor measures time on the given Clock. It waits on a condition variable
// in slices of at most `slice` of real time and re-reads the Clock after each,
// so with a ManualClock a test's Advance() is noticed within one slice and
// Stop() is never blocked by a clock that does not move (ManualClock::SleepFor
// would be).
//
// Thread-safety: all methods from any thread.
class StopSignal {
 public:
  void Stop();
  bool stopped() const;
  // True when `d` elapsed on `clock`; false as soon as Stop() was called.
  bool WaitFor(Clock& clock, Duration d, Duration slice = std::chrono::milliseconds(50));
  // The same until an absolute point on `clock`.
  bool WaitUntil(Clock& clock, MonotonicTime deadline, Duration slice = std::chrono::milliseconds(50));

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace zs::kube
