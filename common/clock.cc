#include "common/clock.h"

#include <thread>

namespace zs {

RealClock& RealClock::Get() {
  static RealClock clock;
  return clock;
}
MonotonicTime RealClock::Now() const { return std::chrono::steady_clock::now(); }
SystemTime RealClock::WallNow() const { return std::chrono::system_clock::now(); }
void RealClock::SleepFor(Duration d) { std::this_thread::sleep_for(d); }

// Starts at an arbitrary, fixed point so that tests are reproducible.
ManualClock::ManualClock()
    : mono_(MonotonicTime{} + std::chrono::hours(1000)),
      wall_(SystemTime{} + std::chrono::seconds(1'780'000'000)) {}

MonotonicTime ManualClock::Now() const {
  std::lock_guard lock(mu_);
  return mono_;
}
SystemTime ManualClock::WallNow() const {
  std::lock_guard lock(mu_);
  return wall_;
}
void ManualClock::SleepFor(Duration d) {
  std::unique_lock lock(mu_);
  const MonotonicTime deadline = mono_ + d;
  ++sleepers_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return mono_ >= deadline; });
  --sleepers_;
}
void ManualClock::Advance(Duration d) {
  {
    std::lock_guard lock(mu_);
    mono_ += d;
    wall_ += std::chrono::duration_cast<SystemTime::duration>(d);
  }
  cv_.notify_all();
}
int ManualClock::sleepers() const {
  std::lock_guard lock(mu_);
  return sleepers_;
}
bool ManualClock::AwaitSleepers(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return sleepers_ >= n; });
}

}  // namespace zs
