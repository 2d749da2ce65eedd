// WorkQueue: a rate-limited, de-duplicating queue of keys ("ns/name") with
// controller-runtime / client-go workqueue semantics:
//   - a key is queued at most once, however often it is added;
//   - a key is never handed to two workers at once: adding a key that a
//     worker is processing marks it dirty, and it is queued again when that
//     worker calls Done();
//   - AddRateLimited(key) re-adds after a per-key exponential backoff
//     (base * 2^requeues, capped at max); Forget(key) resets that count;
//   - AddAfter(key, d) adds once d has passed on the injected Clock;
//   - ShutDown() wakes every Get(), which then returns nullopt; later adds
//     are ignored.
//
// Typical worker:
//   while (auto key = queue.Get()) {
//     absl::Status s = Reconcile(*key);
//     if (s.ok()) queue.Forget(*key); else queue.AddRateLimited(*key);
//     queue.Done(*key);
//   }
//
// Lifecycle: construct, use from any threads, ShutDown(), destroy after the
// workers returned. Delayed adds are promoted by an internal thread that
// re-reads the Clock at least every 20 ms of real time while keys are delayed
// (with a ManualClock they become ready within 20 ms after an Advance()). Thread-safety: every method may be
// called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/clock.h"

namespace zs::kube {

// What a WorkQueue reports, for client-go's workqueue metrics (depth, adds,
// queue latency, work duration, retries). Called with the queue's lock held:
// implementations must be cheap and must not call back into the queue.
class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  // A key entered the queue (an add of a key already waiting is not one).
  virtual void Added() = 0;
  // Keys ready to be handed out, after every change.
  virtual void Depth(size_t depth) = 0;
  // A key was handed to a worker after waiting `waited` in the queue.
  virtual void Started(Duration waited) = 0;
  // A worker called Done() `worked` after it got the key.
  virtual void Finished(Duration worked) = 0;
  // AddRateLimited: a key retried after a failure.
  virtual void Retried() = 0;
};

struct RateLimiterOptions {
  Duration base_delay = std::chrono::milliseconds(5);
  Duration max_delay = std::chrono::seconds(1000);
};

class WorkQueue {
 public:
  explicit WorkQueue(Clock& clock, RateLimiterOptions options = {}, WorkQueueMetrics* metrics = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, Duration delay);
  void AddRateLimited(const std::string& key);
  // Forgets the key's failure count (call after a successful reconcile).
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;

  // Blocks until a key is ready or the queue is shut down (nullopt).
  std::optional<std::string> Get();
  // Non-blocking Get: nullopt when nothing is ready now.
  std::optional<std::string> TryGet();
  // Must be called exactly once per key returned by Get/TryGet.
  void Done(const std::string& key);

  void ShutDown();
  bool ShuttingDown() const;
  // Keys ready to be handed out (not counting delayed or processing ones).
  size_t Len() const;
  // Keys waiting for AddAfter/AddRateLimited delays.
  size_t NumDelayed() const;

 private:
  void AddLocked(const std::string& key);
  void PromoteReadyLocked(MonotonicTime now);
  std::optional<std::string> PopLocked();
  void DelayLoop();

  Clock& clock_;
  const RateLimiterOptions options_;
  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  std::condition_variable delay_cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;                      // queued or to be re-queued after Done
  std::unordered_map<std::string, MonotonicTime> queued_at_;   // in queue_, since
  std::unordered_map<std::string, MonotonicTime> processing_;  // handed out, not Done yet; since
  WorkQueueMetrics* const metrics_;                            // may be null
  std::multimap<MonotonicTime, std::string> delayed_;
  std::unordered_map<std::string, MonotonicTime> delayed_at_;  // earliest ready time per key
  std::unordered_map<std::string, int> failures_;
  bool shutting_down_ = false;
  std::thread delay_thread_;
};

}  // namespace zs::kube
