// Reconciles one Function: its Deployment, its Service and its status.
//
// controller-runtime's contract: Reconcile takes only the key ("ns/name"),
// reads current state from the informer caches (Listers), writes what
// differs, and returns when to look again. An unchanged Function reconciles
// without any write. A spec the rules refuse is terminal: status says why,
// nothing requeues.
//
// Children are applied, not merged: server-side apply (field manager
// "zeroscale-controller", force) of the whole configuration, so that a field
// removed from the Function is removed from the child, and a value the
// apiserver stores in another form ("1000m" as "1") is not a difference. A
// child whose applied-hash annotation matches and which shows every applied
// field is left alone (no request at all). spec.replicas is the autoscaler's:
// the controller's configuration carries it only when it creates the
// Deployment; before any later apply, the current count is handed to the
// field manager "zeroscale-autoscaler" (an apply of spec.replicas alone,
// conditioned on the cached resourceVersion), so the controller's apply,
// which leaves replicas out, never removes (and so resets) them.
//
// A child that exists and is not controlled by this Function is never
// written; a child missing from the cache (which holds only labelled
// objects) is read from the apiserver before it is created, so a foreign
// object of the same name is found, not taken over.
//
// Every failed child write reaches the status (Ready=False and a reason:
// DeploymentNotOwned, ServiceNotOwned, ChildInvalid for a 422, Forbidden,
// ChildWriteFailed) and is retried after a per-Function exponential backoff
// (FailureBackoff): the reconcile returns the delay, and reconciles that come
// earlier (events, resyncs) write nothing and return the time left.
//
// Status has one writer, this reconciler; the autoscaler's part (desired
// replicas, lastRequestTime, lastScaleTime, the Active condition) comes in
// through ScalingStatusSource, and the autoscaler enqueues the key when it
// changes.
//
// Thread-safety: Reconcile may run on several workers at once for different
// keys (the work queue never hands one key to two workers).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/api/function.h"
#include "common/clock.h"
#include "common/kube/client.h"
#include "controller/events.h"
#include "controller/reconciler/failure_backoff.h"

namespace zs::controller {

// Reads one cached object by "ns/name", shared and immutable, not copied (an
// Informer's Find); nullptr if the cache has none.
using Lister = std::function<std::shared_ptr<const nlohmann::json>(const std::string& key)>;
// The cached pods of the Function "ns/name".
using PodLister = std::function<std::vector<nlohmann::json>(const std::string& key)>;

struct ScalingStatus {
  std::optional<int32_t> desired_replicas;
  std::optional<SystemTime> last_request_time;
  std::optional<SystemTime> last_scale_time;
  // "NoTraffic", "Queued" or "Serving"; empty while unknown.
  std::string active_reason;
  std::string active_message;
};
using ScalingStatusSource = std::function<std::optional<ScalingStatus>(const std::string& key)>;

struct ReconcileResult {
  std::optional<std::chrono::milliseconds> requeue_after;
  // "success"; "invalid" (terminal); "error" (a child write failed, retried
  // after requeue_after); "backoff" (an earlier failure's backoff is not
  // over: nothing was written, look again after requeue_after).
  std::string outcome = "success";
};

// A failed write of a child, as the Function's Ready condition shows it.
struct ChildFailure {
  // DeploymentNotOwned, ServiceNotOwned, ChildInvalid, Forbidden,
  // ChildWriteFailed, or Conflict (a race with a newer child the next
  // attempt resolves: neither shown in the status nor backed off from).
  std::string reason;
  std::string message;
  bool deployment = true;  // false: the Service's
};

class FunctionReconciler {
 public:
  struct Options {
    std::string activator_url;
    std::string field_manager = "zeroscale-controller";
    // Owner of spec.replicas (the autoscaler's scale writes use it too).
    std::string replicas_field_manager = "zeroscale-autoscaler";
    FailureBackoffOptions backoff;
    // The Function's pods, for causes only they show (image pull, crash
    // loop, unschedulable: PodTroubleOf). Null: not looked at.
    PodLister pods;
  };
  FunctionReconciler(kube::KubeClient& client, Clock& clock, EventRecorder& events, Lister functions,
                     Lister deployments, Lister services, ScalingStatusSource scaling, Options options);

  absl::StatusOr<ReconcileResult> Reconcile(const std::string& key);

  // The status the reconciler would write for `fn` given its Deployment
  // (null if absent or not ours), a failed child write, if any, and its
  // pods. Pure; exposed for tests.
  api::FunctionStatus ComputeStatus(const api::Function& fn, const nlohmann::json* deployment,
                                    const ChildFailure* failure, const std::optional<ScalingStatus>& scaling,
                                    const std::vector<nlohmann::json>& pods = {}) const;

  // Per-Function backoff of failed child writes (tests read it).
  const FailureBackoff& backoff() const { return backoff_; }

 private:
  struct Child {
    nlohmann::json object;  // as the apiserver has it; null on failure
    std::optional<ChildFailure> failure;
  };
  Child EnsureDeployment(const api::Function& fn);
  Child EnsureService(const api::Function& fn);
  // The child named like `fn`: the cache's copy, else the apiserver's (the
  // cache holds only labelled objects); null when there is none.
  absl::StatusOr<nlohmann::json> Existing(const api::Function& fn, const Lister& cache,
                                          const kube::ResourceRef& ref);
  ChildFailure FailureOf(const absl::Status& status, const std::string& doing, bool deployment) const;
  absl::StatusOr<ReconcileResult> Failed(const api::Function& fn, const std::string& token,
                                         const Child& deployment, const ChildFailure& failure);
  absl::Status WriteStatus(const api::Function& fn, api::FunctionStatus status);
  absl::Status WriteInvalid(const api::Function& fn, const std::string& message);

  kube::KubeClient& client_;
  Clock& clock_;
  EventRecorder& events_;
  Lister functions_;
  Lister deployments_;
  Lister services_;
  ScalingStatusSource scaling_;
  const Options options_;
  FailureBackoff backoff_;
};

// True when `object` has an owner reference with controller=true and `uid`.
bool IsControlledBy(const nlohmann::json& object, const std::string& uid);

}  // namespace zs::controller
