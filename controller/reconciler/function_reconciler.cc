#include "controller/reconciler/function_reconciler.h"

#include "common/json_util.h"
#include "common/kube/errors.h"
#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_format.h"
#include "controller/resources/resources.h"

namespace zs::controller {

using nlohmann::json;

namespace {

// lastRequestTime moves with every request; writing it more often than this
// would turn traffic into status writes.
constexpr auto kLastRequestResolution = std::chrono::seconds(10);

api::Condition MakeCondition(std::string type, bool ok, std::string reason, std::string message,
                             int64_t generation) {
  return {std::move(type), ok ? "True" : "False", std::move(reason), std::move(message), "", generation};
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
      options_(std::move(options)) {}

absl::StatusOr<ReconcileResult> FunctionReconciler::Reconcile(const std::string& key) {
  std::optional<json> object = functions_(key);
  // Gone: the garbage collector removes the children through their owner
  // references; nothing to do here.
  if (!object) return ReconcileResult{};
  if (object->contains(json::json_pointer("/metadata/deletionTimestamp"))) return ReconcileResult{};

  auto decoded = api::DecodeFunction(*object);
  if (!decoded.ok()) {
    api::Function shell;
    shell.metadata = api::DecodeObjectMeta((*object)["metadata"]);
    if (absl::Status s = WriteInvalid(shell, Message(decoded.status())); !s.ok()) return s;
    return ReconcileResult{std::nullopt, "invalid"};
  }
  api::Function fn = *std::move(decoded);
  if (absl::Status valid = api::ValidateFunction(fn); !valid.ok()) {
    if (absl::Status s = WriteInvalid(fn, Message(valid)); !s.ok()) return s;
    return ReconcileResult{std::nullopt, "invalid"};
  }

  bool requeue = false;
  auto deployment = EnsureDeployment(fn, &requeue);
  if (!deployment.ok()) return deployment.status();
  if (requeue) return ReconcileResult{std::chrono::milliseconds(500), "requeue"};
  if (absl::Status s = EnsureService(fn); !s.ok()) return s;

  api::FunctionStatus status = ComputeStatus(fn, &*deployment, true, scaling_(key));
  if (absl::Status s = WriteStatus(fn, std::move(status)); !s.ok()) return s;
  return ReconcileResult{};
}

absl::StatusOr<json> FunctionReconciler::EnsureDeployment(const api::Function& fn, bool* requeue) {
  const std::string& ns = fn.metadata.namespace_;
  const std::string& name = fn.metadata.name;
  std::optional<json> existing = deployments_(fn.metadata.Key());
  if (!existing) {
    json desired = resources::MakeDeployment(fn, fn.spec.scaling.min_replicas);
    auto created = client_.Create(kube::kDeployments.In(ns), desired, {options_.field_manager});
    if (kube::IsAlreadyExists(created.status())) {
      // The cache lags behind the apiserver; look again shortly.
      *requeue = true;
      return json::object();
    }
    if (!created.ok()) {
      events_.Record(fn, EventType::kWarning, "DeploymentFailed",
                     Cat("creating Deployment: ", created.status().message()));
      return created.status();
    }
    events_.Record(fn, EventType::kNormal, "DeploymentCreated",
                   Cat("created Deployment ", name, " with ", fn.spec.scaling.min_replicas, " replicas"));
    return *created;
  }
  if (!IsControlledBy(*existing, fn.metadata.uid)) {
    const std::string message = Cat("Deployment ", name, " exists and is not owned by this Function");
    events_.Record(fn, EventType::kWarning, "DeploymentConflict", message);
    return absl::FailedPreconditionError(message);
  }
  // Replicas stay the autoscaler's.
  json desired = resources::MakeDeployment(fn, std::nullopt);
  json wanted = {{"metadata",
                  {{"labels", desired["metadata"]["labels"]},
                   {"ownerReferences", desired["metadata"]["ownerReferences"]}}},
                 {"spec", desired["spec"]}};
  if (resources::IsSubset(wanted, *existing)) return *existing;
  auto patched = client_.MergePatch(kube::DeploymentRef(ns, name), wanted, {options_.field_manager});
  if (!patched.ok()) {
    events_.Record(fn, EventType::kWarning, "DeploymentFailed",
                   Cat("updating Deployment: ", patched.status().message()));
    return patched.status();
  }
  events_.Record(fn, EventType::kNormal, "DeploymentUpdated",
                 Cat("rolling Deployment ", name, " to generation ", fn.metadata.generation, " (image ",
                     fn.spec.image, ")"));
  return *patched;
}

absl::Status FunctionReconciler::EnsureService(const api::Function& fn) {
  const std::string& ns = fn.metadata.namespace_;
  const std::string& name = fn.metadata.name;
  json desired = resources::MakeService(fn);
  std::optional<json> existing = services_(fn.metadata.Key());
  if (!existing) {
    auto created = client_.Create(kube::kServices.In(ns), desired, {options_.field_manager});
    if (kube::IsAlreadyExists(created.status())) return absl::OkStatus();  // cache lag
    if (!created.ok()) {
      events_.Record(fn, EventType::kWarning, "ServiceFailed",
                     Cat("creating Service: ", created.status().message()));
      return created.status();
    }
    events_.Record(fn, EventType::kNormal, "ServiceCreated", Cat("created Service ", name));
    return absl::OkStatus();
  }
  if (!IsControlledBy(*existing, fn.metadata.uid)) {
    const std::string message = Cat("Service ", name, " exists and is not owned by this Function");
    events_.Record(fn, EventType::kWarning, "ServiceConflict", message);
    return absl::FailedPreconditionError(message);
  }
  json wanted = {{"metadata",
                  {{"labels", desired["metadata"]["labels"]},
                   {"ownerReferences", desired["metadata"]["ownerReferences"]}}},
                 {"spec", {{"selector", desired["spec"]["selector"]}, {"ports", desired["spec"]["ports"]}}}};
  if (resources::IsSubset(wanted, *existing)) return absl::OkStatus();
  auto patched = client_.MergePatch(kube::ServiceRef(ns, name), wanted, {options_.field_manager});
  if (!patched.ok()) return patched.status();
  events_.Record(fn, EventType::kNormal, "ServiceUpdated", Cat("updated Service ", name));
  return absl::OkStatus();
}

api::FunctionStatus FunctionReconciler::ComputeStatus(const api::Function& fn, const json* deployment,
                                                      bool service_ok,
                                                      const std::optional<ScalingStatus>& scaling) const {
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
  if (deployment == nullptr || !deployment->is_object()) {
    deployment_ready = MakeCondition("DeploymentReady", false, "DeploymentMissing", "no Deployment yet", gen);
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
  // Ready: requests can be served now or after a cold start.
  api::Condition ready;
  if (!service_ok) {
    ready = MakeCondition("Ready", false, "ServiceMissing", "no Service yet", gen);
  } else if (deployment_ready.status == "True" || s.ready_replicas > 0) {
    ready = MakeCondition("Ready", true, deployment_ready.reason, deployment_ready.message, gen);
  } else {
    ready = MakeCondition("Ready", false, deployment_ready.reason, deployment_ready.message, gen);
  }
  s.conditions = {ready, deployment_ready};
  if (scaling && !scaling->active_reason.empty()) {
    s.conditions.push_back(MakeCondition("Active", scaling->active_reason != "NoTraffic",
                                         scaling->active_reason, scaling->active_message, gen));
  } else if (const api::Condition* active = fn.status.FindCondition("Active")) {
    s.conditions.push_back(*active);
  }
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
