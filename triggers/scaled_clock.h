// A wall clock that runs faster than real time, for end-to-end tests of
// minute schedules (--testing-time-scale). Monotonic time is the base
// clock's: timeouts and leases stay real; only the schedule's view of the
// wall moves faster, and sleeps shrink by the same factor.
//
// Thread-safety: as the base clock.
#pragma once

#include "common/clock.h"

namespace zs::triggers {

class ScaledClock final : public Clock {
 public:
  ScaledClock(Clock& base, double scale, SystemTime origin) : base_(base), scale_(scale), origin_(origin) {}

  MonotonicTime Now() const override { return base_.Now(); }
  SystemTime WallNow() const override {
    const auto elapsed = std::chrono::duration<double>(base_.WallNow() - origin_);
    return origin_ + std::chrono::duration_cast<SystemTime::duration>(elapsed * scale_);
  }
  void SleepFor(Duration d) override {
    base_.SleepFor(
        std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::nano>(d) / scale_));
  }

 private:
  Clock& base_;
  double scale_;
  SystemTime origin_;
};

}  // namespace zs::triggers
