// Events on Functions (kubectl describe fn shows them): creations, rollouts,
// scale-ups and scale-downs, and errors.
//
// Thread-safety: implementations are safe from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/api/function.h"
#include "common/clock.h"
#include "common/kube/client.h"
#include "controller/event_correlator.h"

namespace zs::controller {

enum class EventType { kNormal, kWarning };

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  virtual void Record(const api::Function& fn, EventType type, const std::string& reason,
                      const std::string& message) = 0;
};

// Writes core/v1 Events through the apiserver, from its own thread: Record()
// only queues, so no caller (a reconcile, a Wake from an activator) ever
// waits on an Event. Each queued Event goes through an EventCorrelator: a
// repeat within the window bumps the earlier Event's count (a merge patch of
// count and lastTimestamp), and each Function has a token bucket past which
// Events are dropped. At most `max_pending` Events wait; more are dropped.
// Failures are logged, never returned: an Event is advisory and must not
// fail a reconcile. Events still queued when the recorder is destroyed are
// dropped (a stopping controller does not hold its exit for them).
class KubeEventRecorder final : public EventRecorder {
 public:
  struct Options {
    size_t max_pending = 1000;
    EventCorrelator::Options correlator;
    // Called once per recorded Event with what became of it: created,
    // aggregated (an earlier Event's count bumped), rate_limited,
    // queue_full, failed.
    // created, aggregated (an earlier Event's count bumped), rate_limited,
    // queue_full, failed, not_leader.
    std::function<void(const std::string& result)> count;
    // Asked right before each write; false drops the Event (not_leader): a
    // replica whose Lease may have passed to another writes nothing.
    std::function<bool()> may_post;
  };
  KubeEventRecorder(kube::KubeClient& client, Clock& clock, std::string component);
  KubeEventRecorder(kube::KubeClient& client, Clock& clock, std::string component, Options options);
  ~KubeEventRecorder() override;
  KubeEventRecorder(const KubeEventRecorder&) = delete;
  KubeEventRecorder& operator=(const KubeEventRecorder&) = delete;

  void Record(const api::Function& fn, EventType type, const std::string& reason,
              const std::string& message) override;

  // Blocks until every Event queued so far has been handled (tests).
  void Flush();
  // Drops what is queued and waits for a write in progress to end: when it
  // returns, nothing more is posted until Record() is called again. Called
  // when the replica stops leading.
  void Discard();

 private:
  struct Pending {
    EventRecord record;
    std::string resource_version;
    MonotonicTime at;
    SystemTime wall;
  };
  void Run();
  void Post(const Pending& p);
  void Count(const std::string& result) const;

  kube::KubeClient& client_;
  Clock& clock_;
  const std::string component_;
  Options options_;
  EventCorrelator correlator_;  // the worker's only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  uint64_t queued_ = 0;   // Events accepted so far
  uint64_t handled_ = 0;  // of those, handled by the worker or discarded
  bool posting_ = false;  // the worker is writing one
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace zs::controller
