// AutoscalerLoop: the leader's scaling pass. Every tick, for each Function,
// it feeds the aggregated activator load and the Deployment's replica counts
// to the pure Decide(), and when the decision differs from the Deployment's
// spec.replicas it patches the scale subresource (the one writer of replica
// counts), records an Event and counts it. Wake() is the fast path from
// zero: one conditional scale patch, no waiting for a tick.
//
// It also keeps each Function's ScalingStatus (desired, last request, last
// scale, Active reason) for the reconciler, which is status's one writer,
// and enqueues the Function there when that changes.
//
// The race with scale-to-zero: the patch to 0 carries the resourceVersion of
// the Deployment the decision read (a Deployment changed since, e.g. by a
// Wake, makes it fail with a conflict: the next tick decides again), and it
// is serialised with Wake per Function: under that Function's scale lock the
// decision is taken again on fresh samples (a Wake notes its request before
// it takes the lock), and a Wake that follows a zero patch reads the Scale
// fresh instead of trusting a cache that may not show the 0 yet.
//
// Only Deployments the Function controls (an owner reference with
// controller=true and the Function's uid) are resized: a Deployment of the
// same name that is someone else's is skipped by the tick and refused by
// Wake, and every scale patch carries the uid of the Deployment it was
// decided on, so one replaced in between answers 409.
//
// Per-Function state lives and dies with the Function: Forget() on deletion
// (wired to the Function informer), a sweep every tick for anything the cache
// no longer has, and a Function recreated under the same name (another uid)
// starts fresh, its load history included.
//
// Lifecycle: construct; Start() when this replica leads (own thread); Stop()
// once, when it stops leading: it returns after the loop ended and any Wake()
// in flight finished, and later Wake()s are refused, so nothing scales once
// Stop() returned. Tick() and Wake() are public for tests.
// Thread-safety: Wake(), StatusOf(), Forget() and Tick() may run
// concurrently. Lock order: a Function's scale lock, then mu_, then the
// StatsAggregator's.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"
#include "controller/autoscaler/decide.h"
#include "controller/autoscaler/scaler.h"
#include "controller/autoscaler/stats_aggregator.h"
#include "controller/events.h"
#include "controller/metrics.h"
#include "controller/reconciler/function_reconciler.h"

namespace zs::controller {

// Every cached Function, shared (kube::Informer::Snapshot): with the shared
// Listers, a tick over thousands of Functions copies none of them or their
// Deployments.
using SharedList = std::function<std::vector<std::shared_ptr<const nlohmann::json>>()>;

class AutoscalerLoop final : public autoscaler::Scaler {
 public:
  struct Options {
    Duration tick = std::chrono::seconds(2);
    autoscaler::Tuning tuning;
  };
  AutoscalerLoop(kube::KubeClient& client, Clock& clock, autoscaler::StatsAggregator& stats, Lister functions,
                 Lister deployments, SharedList list_functions, EventRecorder& events,
                 ControllerMetrics& metrics, std::function<void(const std::string&)> enqueue,
                 Options options);
  ~AutoscalerLoop() override;

  void Start();
  void Stop();

  // One pass over every Function.
  void Tick();

  enum class WakeResult { kScaled, kAlreadyActive, kNotFound };
  // Scales a Function at zero to one replica now (FailedPrecondition when
  // its Deployment is not the Function's). Idempotent: a Function
  // already above zero is left alone (the patch is conditional on
  // spec.replicas == 0, so a stale cache cannot scale anything down).
  absl::StatusOr<WakeResult> Wake(const std::string& ns, const std::string& name);

  // autoscaler::Scaler, for the gRPC Wake call: the replica count before
  // the call (0 = it was woken now).
  absl::StatusOr<int> ScaleFromZero(std::string_view ns, std::string_view name) override;

  std::optional<ScalingStatus> StatusOf(const std::string& key) const;

  // The Function was deleted: frees its decision state, status and load
  // history. Safe to call for a key never seen.
  void Forget(const std::string& key);
  // Functions with per-Function state here (tests: what is freed).
  std::vector<std::string> TrackedFunctions() const;

 private:
  struct PerFunction {
    // The incarnation this state belongs to.
    std::string uid;
    autoscaler::DecisionState state;
    ScalingStatus status;
    // Serialises this Function's zero patch with Wake. Shared: Forget() may
    // erase the entry while a patch holds the lock.
    std::shared_ptr<std::mutex> scale_mu = std::make_shared<std::mutex>();
    // Our last replica write was a successful patch to 0 and the informer's
    // copy did not show a 0 since: Wake reads the Scale fresh meanwhile.
    bool zeroed = false;
  };
  void Run();
  void DecideOne(const nlohmann::json& function_object);
  // The entry of this incarnation of `fn`; a different uid (recreated under
  // the same name) starts fresh and drops the name's load history.
  PerFunction& EntryLocked(const api::Function& fn);
  // The conditional, serialised patch to 0 (see the class comment). Aborted
  // when the fresh decision is no longer 0; Conflict when the Deployment
  // changed since `deployment` was read.
  absl::Status ScaleToZero(const api::Function& fn, const nlohmann::json& deployment,
                           const autoscaler::Samples& decided_on,
                           const autoscaler::DecisionState& state_before);
  void Sweep(const std::set<std::string>& listed);
  void NoteScaled(const api::Function& fn, int32_t from, int32_t to, const std::string& why);

  kube::KubeClient& client_;
  Clock& clock_;
  autoscaler::StatsAggregator& stats_;
  Lister functions_;
  Lister deployments_;
  SharedList list_functions_;
  EventRecorder& events_;
  ControllerMetrics& metrics_;
  std::function<void(const std::string&)> enqueue_;
  const Options options_;

  mutable std::mutex mu_;
  std::map<std::string, PerFunction> functions_state_;
  std::atomic<bool> stop_{false};
  // Held shared by each Wake(), exclusively by Stop() to wait them out.
  std::shared_mutex waking_mu_;
  std::thread thread_;
};

}  // namespace zs::controller
