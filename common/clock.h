// Time behind an interface (as Envoy's TimeSource), so that timers, deadlines,
// backoff and the autoscaler's windows can be driven by tests without sleeping.
//
// Thread-safety: every Clock method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace zs {

using MonotonicTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for durations, deadlines and windows.
  virtual MonotonicTime Now() const = 0;
  // Wall time, for timestamps written to the API, logs and billing records.
  virtual SystemTime WallNow() const = 0;
  // Blocks the caller until Now() >= now + d. A ManualClock returns once a
  // test advanced it far enough.
  virtual void SleepFor(Duration d) = 0;
};

// The process's real clock. The only place that reads std::chrono clocks.
class RealClock final : public Clock {
 public:
  static RealClock& Get();
  MonotonicTime Now() const override;
  SystemTime WallNow() const override;
  void SleepFor(Duration d) override;
};

// A clock that moves only when told to. Sleepers wake when Advance() passes
// their deadline.
class ManualClock final : public Clock {
 public:
  ManualClock();
  MonotonicTime Now() const override;
  SystemTime WallNow() const override;
  void SleepFor(Duration d) override;

  void Advance(Duration d);
  // Number of threads blocked in SleepFor; lets tests wait for a sleeper
  // before advancing.
  int sleepers() const;
  // Blocks until at least n threads are in SleepFor (real-time bounded by
  // `timeout`); returns false on timeout.
  bool AwaitSleepers(int n, std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  MonotonicTime mono_;
  SystemTime wall_;
  int sleepers_ = 0;
};

// Milliseconds between two monotonic points as a double.
inline double ToMillis(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
inline double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace zs
