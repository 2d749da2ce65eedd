#include "controller/reconciler/function_reconciler.h"

#include "common/json_util.h"
#include "common/kube/errors.h"
#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_format.h"
#include "controller/reconciler/pod_trouble.h"
#include "controller/resources/resources.h"

namespace zs::controller {

using nlohmann::json;

namespace {

// lastRequestTime moves with every request; writing it more often than this
// would turn traffic into status writes.
constexpr auto kLastRequestResolution = std::chrono::seconds(10);
// When a write lost a race with a newer version of the child.
constexpr std::chrono::milliseconds kConflictRequeue{1000};

api::Condition MakeCondition(std::string type, bool ok, std::string reason, std::string message,
                             int64_t generation) {
  return {std::move(type), ok ? "True" : "False", std::move(reason), std::move(message), "", generation};
}

// A Deployment condition that says its pods cannot be made or the rollout
// is stuck: ReplicaFailure=True (quota, Pod Security, an admission webhook
// refusing the pods) or Progressing=False (progressDeadlineSeconds passed).
const json* FailingDeploymentCondition(const json& deployment) {
  const json* conditions = deployment.contains(json::json_pointer("/status/conditions"))
                               ? &deployment.at(json::json_pointer("/status/conditions"))
                               : nullptr;
  if (conditions == nullptr || !conditions->is_array()) return nullptr;
  for (const json& c : *conditions) {
    const std::string type = c.value("type", "");
    const std::string status = c.value("status", "");
    if ((type == "ReplicaFailure" && status == "True") || (type == "Progressing" && status == "False")) {
      return &c;
    }
  }
  return nullptr;
}

// True when `existing` is what applying `desired` made: the same
// applied-hash and every field of the configuration's metadata and spec.
// (apiVersion and kind are left out: the items of a LIST, which fill an
// informer's cache after a start or a relist, do not carry them.)
bool UpToDate(const json& desired, const json& existing) {
  return resources::AppliedHashOf(existing) == resources::AppliedHashOf(desired) &&
         resources::IsSubset(desired.value("metadata", json::object()), existing.value("metadata", json())) &&
         resources::IsSubset(desired.value("spec", json::object()), existing.value("spec", json()));
}

}  // namespace

bool IsControlledBy(const json& object, const std::string& uid) {
  auto refs = object.find("metadata");
  if (refs == object.end()) return false;
  auto it = refs->find("ownerReferences");
  if (it == refs->end() || !it->is_array()) return false;
  for (const auto& ref : *it) {
    if (ref.value("controller", false) && ref.value("uid", "") == uid) return true;
  }
  return false;
}

FunctionReconciler::FunctionReconciler(kube::KubeClient& client, Clock& clock, EventRecorder& events,
                                       Lister functions, Lister deployments, Lister services,
                                       ScalingStatusSource scaling, Options options)
    : client_(client),
      clock_(clock),
      events_(events),
      functions_(std::move(functions)),
      deployments_(std::move(deployments)),
      services_(std::move(services)),
      scaling_(std::move(scaling)),
      options_(std::move(options)),
      backoff_(clock, options_.backoff) {}

absl::StatusOr<ReconcileResult> FunctionReconciler::Reconcile(const std::string& key) {
  std::shared_ptr<const json> object = functions_(key);
  // Gone: the garbage collector removes the children through their owner
  // references; nothing to do here but forget the Function.
  if (!object) {
    backoff_.Forget(key);
    return ReconcileResult{};
  }
  if (object->contains(json::json_pointer("/metadata/deletionTimestamp"))) return ReconcileResult{};

  auto decoded = api::DecodeFunction(*object);
  if (!decoded.ok()) {
    api::Function shell;
    shell.metadata = api::DecodeObjectMeta(object->value("metadata", json::object()));
    if (absl::Status s = WriteInvalid(shell, Message(decoded.status())); !s.ok()) return s;
    return ReconcileResult{std::nullopt, "invalid"};
  }
  api::Function fn = *std::move(decoded);
  if (absl::Status valid = api::ValidateFunction(fn); !valid.ok()) {
    if (absl::Status s = WriteInvalid(fn, Message(valid)); !s.ok()) return s;
    return ReconcileResult{std::nullopt, "invalid"};
  }

  // An edit (new generation) or a new incarnation may be the fix: try it now.
  const std::string token = Cat(fn.metadata.uid, "/", fn.metadata.generation);
  if (std::optional<Duration> wait = backoff_.Blocked(key, token)) {
    return ReconcileResult{std::chrono::ceil<std::chrono::milliseconds>(*wait), "backoff"};
  }
  Child deployment = EnsureDeployment(fn);
  if (deployment.failure) return Failed(fn, token, deployment, *deployment.failure);
  Child service = EnsureService(fn);
  if (service.failure) return Failed(fn, token, deployment, *service.failure);
  backoff_.Forget(key);

  // Pods matter only while replicas are asked for (PodTroubleOf); at zero
  // none are copied out of the cache.
  const bool wants_pods = options_.pods && Int32At(deployment.object, "/spec/replicas") > 0;
  api::FunctionStatus status = ComputeStatus(fn, &deployment.object, nullptr, scaling_(key),
                                             wants_pods ? options_.pods(key) : std::vector<json>{});
  if (absl::Status s = WriteStatus(fn, std::move(status)); !s.ok()) return s;
  return ReconcileResult{};
}

absl::StatusOr<ReconcileResult> FunctionReconciler::Failed(const api::Function& fn, const std::string& token,
                                                           const Child& deployment,
                                                           const ChildFailure& failure) {
  if (failure.reason == "Conflict") {
    // The cache is behind the child (the replicas hand-over is conditioned on
    // its resourceVersion): a race, not a state to report or to back off
    // from. The informer's event for the newer child brings the next try;
    // the requeue is a safety net.
    log::Info("child changed meanwhile", {{"function", fn.metadata.Key()}, {"error", failure.message}});
    return ReconcileResult{kConflictRequeue, "error"};
  }
  const Duration delay = backoff_.Failed(fn.metadata.Key(), token);
  log::Warn("child write failed", {{"function", fn.metadata.Key()},
                                   {"reason", failure.reason},
                                   {"error", failure.message},
                                   {"retry_in_ms", static_cast<int64_t>(ToMillis(delay))}});
  const ReconcileResult result{std::chrono::ceil<std::chrono::milliseconds>(delay), "error"};
  const api::Condition* ready = fn.status.FindCondition("Ready");
  if (ready == nullptr || ready->reason != failure.reason || ready->message != failure.message) {
    events_.Record(fn, EventType::kWarning, failure.reason, failure.message);
  }
  const json* ours = deployment.object.is_object() ? &deployment.object : nullptr;
  api::FunctionStatus status = ComputeStatus(fn, ours, &failure, scaling_(fn.metadata.Key()));
  if (absl::Status s = WriteStatus(fn, std::move(status)); !s.ok()) return s;
  return result;
}

ChildFailure FunctionReconciler::FailureOf(const absl::Status& status, const std::string& doing,
                                           bool deployment) const {
  std::string reason = "ChildWriteFailed";
  if (kube::IsInvalid(status)) {
    reason = "ChildInvalid";
  } else if (kube::IsForbidden(status)) {
    reason = "Forbidden";
  } else if (kube::IsConflict(status)) {
    reason = "Conflict";
  }
  return {reason, Cat(doing, ": ", status.message()), deployment};
}

absl::StatusOr<json> FunctionReconciler::Existing(const api::Function& fn, const Lister& cache,
                                                  const kube::ResourceRef& ref) {
  if (std::shared_ptr<const json> cached = cache(fn.metadata.Key())) return *cached;
  auto live = client_.Get(ref);
  if (kube::IsNotFound(live.status())) return json();
  return live;
}

FunctionReconciler::Child FunctionReconciler::EnsureDeployment(const api::Function& fn) {
  const std::string& name = fn.metadata.name;
  const kube::ResourceRef ref = kube::DeploymentRef(fn.metadata.namespace_, name);
  auto existing = Existing(fn, deployments_, ref);
  if (!existing.ok()) return {json(), FailureOf(existing.status(), Cat("reading Deployment ", name), true)};
  // Replicas stay the autoscaler's: left out of every apply but the first.
  json desired = resources::WithAppliedHash(resources::MakeDeployment(fn, std::nullopt));
  const kube::ApplyOptions apply{options_.field_manager, /*force=*/true};

  if (existing->is_null()) {
    json create = desired;
    create["spec"]["replicas"] = fn.spec.scaling.min_replicas;
    auto created = client_.Apply(ref, create, apply);
    if (!created.ok()) return {json(), FailureOf(created.status(), Cat("creating Deployment ", name), true)};
    events_.Record(fn, EventType::kNormal, "DeploymentCreated",
                   Cat("created Deployment ", name, " with ", fn.spec.scaling.min_replicas, " replicas"));
    return {*std::move(created), std::nullopt};
  }
  if (!IsControlledBy(*existing, fn.metadata.uid)) {
    return {json(), ChildFailure{"DeploymentNotOwned",
                                 Cat("Deployment ", name,
                                     " exists and is not controlled by this Function; delete or rename it, "
                                     "or rename the Function"),
                                 true}};
  }
  if (UpToDate(desired, *existing)) return {*std::move(existing), std::nullopt};
  // Hand spec.replicas over first: created by our apply, it is ours until the
  // autoscaler changes it, and an apply that leaves an owned field out
  // removes it (the Deployment would fall back to 1 replica). Conditioned on
  // the cached resourceVersion, so a count the cache has not seen yet is
  // never written back.
  const json handover = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata",
       {{"name", name},
        {"namespace", fn.metadata.namespace_},
        {"resourceVersion", existing->value(json::json_pointer("/metadata/resourceVersion"), "")}}},
      {"spec", {{"replicas", Int32At(*existing, "/spec/replicas")}}}};
  auto handed =
      client_.Apply(ref, handover, kube::ApplyOptions{options_.replicas_field_manager, /*force=*/true});
  if (!handed.ok()) {
    return {*existing,
            FailureOf(handed.status(), Cat("handing replicas of Deployment ", name, " over"), true)};
  }
  auto applied = client_.Apply(ref, desired, apply);
  if (!applied.ok()) {
    return {*existing, FailureOf(applied.status(), Cat("applying Deployment ", name), true)};
  }
  events_.Record(fn, EventType::kNormal, "DeploymentUpdated",
                 Cat("applied Deployment ", name, " for generation ", fn.metadata.generation, " (image ",
                     fn.spec.image, ")"));
  return {*std::move(applied), std::nullopt};
}

FunctionReconciler::Child FunctionReconciler::EnsureService(const api::Function& fn) {
  const std::string& name = fn.metadata.name;
  const kube::ResourceRef ref = kube::ServiceRef(fn.metadata.namespace_, name);
  auto existing = Existing(fn, services_, ref);
  if (!existing.ok()) return {json(), FailureOf(existing.status(), Cat("reading Service ", name), false)};
  json desired = resources::WithAppliedHash(resources::MakeService(fn));
  if (!existing->is_null()) {
    if (!IsControlledBy(*existing, fn.metadata.uid)) {
      return {json(), ChildFailure{"ServiceNotOwned",
                                   Cat("Service ", name,
                                       " exists and is not controlled by this Function; delete or rename it, "
                                       "or rename the Function"),
                                   false}};
    }
    if (UpToDate(desired, *existing)) return {*std::move(existing), std::nullopt};
  }
  const bool creating = existing->is_null();
  auto applied = client_.Apply(ref, desired, kube::ApplyOptions{options_.field_manager, /*force=*/true});
  if (!applied.ok()) {
    return {json(),
            FailureOf(applied.status(), Cat(creating ? "creating" : "applying", " Service ", name), false)};
  }
  events_.Record(fn, EventType::kNormal, creating ? "ServiceCreated" : "ServiceUpdated",
                 Cat(creating ? "created" : "applied", " Service ", name));
  return {*std::move(applied), std::nullopt};
}

namespace {

// TriggersReady, for Functions with broker triggers: whether every broker
// consumer is connected, as the trigger component reports it in
// status.triggers (docs/triggers.md). Schedules have no broker and no say.
std::optional<api::Condition> TriggersReady(const api::Function& fn) {
  const int64_t gen = fn.metadata.generation;
  int brokers = 0;
  for (const api::TriggerSpec& t : fn.spec.triggers) {
    if (!t.nats && !t.redis) continue;
    ++brokers;
    auto it = std::find_if(fn.trigger_statuses.begin(), fn.trigger_statuses.end(),
                           [&](const api::TriggerStatus& s) { return s.name == t.name; });
    if (it == fn.trigger_statuses.end() || it->connected.empty()) {
      api::Condition unknown = MakeCondition("TriggersReady", false, "Pending",
                                             Cat("trigger ", t.name, ": no consumer has reported yet"), gen);
      unknown.status = "Unknown";
      return unknown;
    }
    if (it->connected != "True") {
      return MakeCondition("TriggersReady", false, it->reason.empty() ? "BrokerUnavailable" : it->reason,
                           Cat("trigger ", t.name, ": ", it->message), gen);
    }
  }
  if (brokers == 0) return std::nullopt;
  return MakeCondition("TriggersReady", true, "Connected",
                       Cat(brokers, brokers == 1 ? " broker trigger" : " broker triggers", " connected"),
                       gen);
}

}  // namespace

api::FunctionStatus FunctionReconciler::ComputeStatus(const api::Function& fn, const json* deployment,
                                                      const ChildFailure* failure,
                                                      const std::optional<ScalingStatus>& scaling,
                                                      const std::vector<json>& pods) const {
  api::FunctionStatus s;
  const int64_t gen = fn.metadata.generation;
  s.observed_generation = gen;
  s.url = resources::FunctionUrl(options_.activator_url, fn);
  if (deployment != nullptr && deployment->is_object()) {
    s.replicas = Int32At(*deployment, "/status/replicas");
    s.ready_replicas = Int32At(*deployment, "/status/readyReplicas");
    s.desired_replicas = Int32At(*deployment, "/spec/replicas");
  }
  if (scaling && scaling->desired_replicas) s.desired_replicas = *scaling->desired_replicas;
  s.replica_summary = Cat(s.ready_replicas, "/", s.desired_replicas);

  // DeploymentReady: the Deployment has caught up with this generation and
  // has every desired replica ready (at zero that is trivially true).
  const bool rolled_out = deployment != nullptr && deployment->is_object() &&
                          Int32At(*deployment, "/status/observedGeneration") >=
                              deployment->value(json::json_pointer("/metadata/generation"), 0) &&
                          Int32At(*deployment, "/status/updatedReplicas") >= s.ready_replicas;
  const int32_t spec_replicas = deployment != nullptr ? Int32At(*deployment, "/spec/replicas") : 0;
  api::Condition deployment_ready;
  if (failure != nullptr && failure->deployment) {
    deployment_ready = MakeCondition("DeploymentReady", false, failure->reason, failure->message, gen);
  } else if (deployment == nullptr || !deployment->is_object()) {
    deployment_ready = MakeCondition("DeploymentReady", false, "DeploymentMissing", "no Deployment yet", gen);
  } else if (const json* failing = FailingDeploymentCondition(*deployment)) {
    deployment_ready = MakeCondition(
        "DeploymentReady", false, failing->value("reason", failing->value("type", "")),
        Cat("Deployment ", failing->value("type", ""), ": ", failing->value("message", "")), gen);
  } else if (std::optional<PodTrouble> trouble = spec_replicas > 0 ? PodTroubleOf(pods) : std::nullopt) {
    deployment_ready = MakeCondition("DeploymentReady", false, trouble->reason, trouble->message, gen);
  } else if (const api::Condition* was = fn.status.FindCondition("Ready");
             spec_replicas == 0 && was != nullptr && was->status == "False" &&
             IsPodTroubleReason(was->reason) && was->observed_generation == gen) {
    // Scaled to zero while its pods could not start: the pods are gone, the
    // cause is not. Kept until a replica becomes ready or the spec changes.
    std::string message = was->message;
    constexpr std::string_view kAtZero = " (scaled to zero since; the next request tries again)";
    if (!message.ends_with(kAtZero)) message += kAtZero;
    deployment_ready = MakeCondition("DeploymentReady", false, was->reason, message, gen);
  } else if (spec_replicas == 0) {
    deployment_ready = MakeCondition("DeploymentReady", true, "ScaledToZero",
                                     "no replicas; the next request wakes the function", gen);
  } else if (rolled_out && s.ready_replicas >= spec_replicas) {
    deployment_ready = MakeCondition("DeploymentReady", true, "AllReplicasReady",
                                     Cat(s.ready_replicas, " of ", spec_replicas, " replicas ready"), gen);
  } else {
    deployment_ready = MakeCondition("DeploymentReady", false, "ReplicasNotReady",
                                     Cat(s.ready_replicas, " of ", spec_replicas, " replicas ready"), gen);
  }
  // Ready: requests can be served now or after a cold start. A Deployment
  // that cannot make pods or whose rollout is stuck is not, whatever still
  // serves: the Function as specified does not run.
  const bool stuck = deployment_ready.status == "False" && deployment_ready.reason != "ReplicasNotReady" &&
                     deployment_ready.reason != "DeploymentMissing";
  const bool serving = !stuck && (deployment_ready.status == "True" || s.ready_replicas > 0);
  const api::Condition ready =
      failure != nullptr
          ? MakeCondition("Ready", false, failure->reason, failure->message, gen)
          : MakeCondition("Ready", serving, deployment_ready.reason, deployment_ready.message, gen);
  s.conditions = {ready, deployment_ready};
  if (scaling && !scaling->active_reason.empty()) {
    s.conditions.push_back(MakeCondition("Active", scaling->active_reason != "NoTraffic",
                                         scaling->active_reason, scaling->active_message, gen));
  } else if (const api::Condition* active = fn.status.FindCondition("Active")) {
    s.conditions.push_back(*active);
  }
  if (std::optional<api::Condition> triggers = TriggersReady(fn)) s.conditions.push_back(*triggers);
  s.last_request_time = fn.status.last_request_time;
  s.last_scale_time = fn.status.last_scale_time;
  if (scaling && scaling->last_scale_time) s.last_scale_time = FormatRfc3339(*scaling->last_scale_time);
  if (scaling && scaling->last_request_time) {
    std::optional<SystemTime> written =
        fn.status.last_request_time ? ParseRfc3339(*fn.status.last_request_time) : std::nullopt;
    if (!written || *scaling->last_request_time - *written >= kLastRequestResolution) {
      s.last_request_time = FormatRfc3339(*scaling->last_request_time);
    }
  }
  return s;
}

absl::Status FunctionReconciler::WriteStatus(const api::Function& fn, api::FunctionStatus status) {
  // Keep lastTransitionTime of conditions whose status did not change.
  const std::string now = FormatRfc3339(clock_.WallNow());
  for (api::Condition& c : status.conditions) {
    const api::Condition* old = fn.status.FindCondition(c.type);
    c.last_transition_time = (old != nullptr && old->status == c.status && !old->last_transition_time.empty())
                                 ? old->last_transition_time
                                 : now;
  }
  if (status == fn.status) return absl::OkStatus();
  auto patched =
      client_.PatchStatus(kube::FunctionRef(fn.metadata.namespace_, fn.metadata.name),
                          {{"status", api::EncodeFunctionStatus(status)}}, {options_.field_manager});
  if (kube::IsNotFound(patched.status())) return absl::OkStatus();  // deleted meanwhile
  return patched.status();
}

absl::Status FunctionReconciler::WriteInvalid(const api::Function& fn, const std::string& message) {
  api::FunctionStatus status = fn.status;
  status.observed_generation = fn.metadata.generation;
  status.conditions = {MakeCondition("Ready", false, "InvalidSpec", message, fn.metadata.generation)};
  if (fn.status.FindCondition("Ready") == nullptr || fn.status.FindCondition("Ready")->message != message) {
    events_.Record(fn, EventType::kWarning, "InvalidSpec", message);
  }
  return WriteStatus(fn, std::move(status));
}

}  // namespace zs::controller
