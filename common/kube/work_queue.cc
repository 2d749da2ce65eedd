#include "common/kube/work_queue.h"

#include <algorithm>
#include <cmath>

namespace zs::kube {
namespace {
// Longest the delay thread sleeps before looking at the clock again; bounds
// how late a delayed key becomes ready when an earlier one was added while
// it slept.
constexpr Duration kDelaySlice = std::chrono::milliseconds(20);
}  // namespace

WorkQueue::WorkQueue(Clock& clock, RateLimiterOptions options, WorkQueueMetrics* metrics)
    : clock_(clock), options_(options), metrics_(metrics), delay_thread_([this] { DelayLoop(); }) {}

WorkQueue::~WorkQueue() {
  ShutDown();
  if (delay_thread_.joinable()) delay_thread_.join();
}

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_) return;
  if (dirty_.contains(key)) return;
  dirty_.insert(key);
  if (metrics_ != nullptr) metrics_->Added();
  // A key being processed goes back in the queue on Done().
  if (processing_.contains(key)) return;
  queue_.push_back(key);
  queued_at_[key] = clock_.Now();
  if (metrics_ != nullptr) metrics_->Depth(queue_.size());
  ready_cv_.notify_one();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard lock(mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, Duration delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  if (delay <= Duration::zero()) {
    AddLocked(key);
    return;
  }
  const MonotonicTime ready_at = clock_.Now() + delay;
  auto existing = delayed_at_.find(key);
  if (existing != delayed_at_.end()) {
    // Keep only the earliest pending time per key, as client-go does.
    if (existing->second <= ready_at) return;
    auto range = delayed_.equal_range(existing->second);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == key) {
        delayed_.erase(it);
        break;
      }
    }
  }
  delayed_at_[key] = ready_at;
  delayed_.emplace(ready_at, key);
  delay_cv_.notify_all();
}

void WorkQueue::AddRateLimited(const std::string& key) {
  Duration delay;
  {
    std::lock_guard lock(mu_);
    int& failures = failures_[key];
    const double base = static_cast<double>(options_.base_delay.count());
    double scaled = base * std::pow(2.0, std::min(failures, 62));
    scaled = std::min(scaled, static_cast<double>(options_.max_delay.count()));
    delay = Duration(static_cast<Duration::rep>(scaled));
    ++failures;
    if (metrics_ != nullptr) metrics_->Retried();
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::PopLocked() {
  if (queue_.empty()) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  const MonotonicTime now = clock_.Now();
  if (metrics_ != nullptr) {
    auto since = queued_at_.find(key);
    metrics_->Started(since == queued_at_.end() ? Duration::zero() : now - since->second);
    metrics_->Depth(queue_.size());
  }
  queued_at_.erase(key);
  processing_[key] = now;
  dirty_.erase(key);
  return key;
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock lock(mu_);
  ready_cv_.wait(lock, [&] { return !queue_.empty() || shutting_down_; });
  return PopLocked();
}

std::optional<std::string> WorkQueue::TryGet() {
  std::lock_guard lock(mu_);
  PromoteReadyLocked(clock_.Now());
  return PopLocked();
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = processing_.find(key);
  if (it != processing_.end()) {
    if (metrics_ != nullptr) metrics_->Finished(clock_.Now() - it->second);
    processing_.erase(it);
  }
  if (dirty_.contains(key) && !shutting_down_) {
    queue_.push_back(key);
    queued_at_[key] = clock_.Now();
    if (metrics_ != nullptr) metrics_->Depth(queue_.size());
    ready_cv_.notify_one();
  }
}

void WorkQueue::ShutDown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
  }
  ready_cv_.notify_all();
  delay_cv_.notify_all();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t WorkQueue::NumDelayed() const {
  std::lock_guard lock(mu_);
  return delayed_.size();
}

void WorkQueue::PromoteReadyLocked(MonotonicTime now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    delayed_at_.erase(key);
    AddLocked(key);
  }
}

void WorkQueue::DelayLoop() {
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    if (delayed_.empty()) {
      delay_cv_.wait(lock, [&] { return shutting_down_ || !delayed_.empty(); });
      continue;
    }
    MonotonicTime now = clock_.Now();
    PromoteReadyLocked(now);
    if (delayed_.empty()) continue;
    // A real-time wait, re-reading the Clock afterwards: ShutDown() and
    // earlier AddAfter()s wake it at once, and a ManualClock's Advance() is
    // noticed within one slice (ManualClock::SleepFor could not be woken by
    // ShutDown()).
    delay_cv_.wait_for(lock, std::min<Duration>(delayed_.begin()->first - now, kDelaySlice));
  }
}

}  // namespace zs::kube
