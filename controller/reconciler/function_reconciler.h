// Reconciles one Function: its Deployment, its Service and its status.
//
// controller-runtime's contract: Reconcile takes only the key ("ns/name"),
// reads current state from the informer caches (Listers), writes what
// differs, and returns when to look again. An unchanged Function reconciles
// without any write. Errors requeue with backoff (the caller's work queue);
// a spec the rules refuse is terminal: status says why, nothing requeues.
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

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/api/function.h"
#include "common/clock.h"
#include "common/kube/client.h"
#include "controller/events.h"

namespace zs::controller {

// Reads one cached object by "ns/name" (an Informer's Get).
using Lister = std::function<std::optional<nlohmann::json>(const std::string& key)>;

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
  // "success", "invalid" (terminal), "requeue"
  std::string outcome = "success";
};

class FunctionReconciler {
 public:
  struct Options {
    std::string activator_url;
    std::string field_manager = "zeroscale-controller";
  };
  FunctionReconciler(kube::KubeClient& client, Clock& clock, EventRecorder& events, Lister functions,
                     Lister deployments, Lister services, ScalingStatusSource scaling, Options options);

  absl::StatusOr<ReconcileResult> Reconcile(const std::string& key);

  // The status the reconciler would write for `fn` given its Deployment
  // (null if absent). Pure; exposed for tests.
  api::FunctionStatus ComputeStatus(const api::Function& fn, const nlohmann::json* deployment,
                                    bool service_ok, const std::optional<ScalingStatus>& scaling) const;

 private:
  absl::StatusOr<nlohmann::json> EnsureDeployment(const api::Function& fn, bool* requeue);
  absl::Status EnsureService(const api::Function& fn);
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
};

// True when `object` has an owner reference with controller=true and `uid`.
bool IsControlledBy(const nlohmann::json& object, const std::string& uid);

}  // namespace zs::controller
