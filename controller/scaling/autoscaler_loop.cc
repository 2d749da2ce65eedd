#include "controller/scaling/autoscaler_loop.h"

#include "common/json_util.h"
#include "common/kube/errors.h"
#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"

namespace zs::controller {

using nlohmann::json;

namespace {

std::string UidOf(const json& object) { return object.value(json::json_pointer("/metadata/uid"), ""); }

// Wall time of a monotonic instant, for status fields.
SystemTime ToWall(Clock& clock, MonotonicTime t) {
  return clock.WallNow() - std::chrono::duration_cast<SystemTime::duration>(clock.Now() - t);
}

}  // namespace

AutoscalerLoop::AutoscalerLoop(kube::KubeClient& client, Clock& clock, autoscaler::StatsAggregator& stats,
                               Lister functions, Lister deployments, SharedList list_functions,
                               EventRecorder& events, ControllerMetrics& metrics,
                               std::function<void(const std::string&)> enqueue, Options options)
    : client_(client),
      clock_(clock),
      stats_(stats),
      functions_(std::move(functions)),
      deployments_(std::move(deployments)),
      list_functions_(std::move(list_functions)),
      events_(events),
      metrics_(metrics),
      enqueue_(std::move(enqueue)),
      options_(options) {}

AutoscalerLoop::~AutoscalerLoop() { Stop(); }

void AutoscalerLoop::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void AutoscalerLoop::Stop() {
  stop_ = true;
  { std::unique_lock wait_for_wakes(waking_mu_); }
  if (thread_.joinable()) thread_.join();
}

void AutoscalerLoop::Run() {
  // Short sleeps so Stop() is prompt; the decision cadence is options_.tick.
  MonotonicTime next = clock_.Now();
  while (!stop_) {
    if (clock_.Now() >= next) {
      Tick();
      next = clock_.Now() + options_.tick;
    }
    clock_.SleepFor(std::min<Duration>(options_.tick, std::chrono::milliseconds(100)));
  }
}

void AutoscalerLoop::Tick() {
  std::set<std::string> listed;
  for (const std::shared_ptr<const json>& fn : list_functions_()) {
    listed.insert(kube::Informer::KeyOf(*fn));
    DecideOne(*fn);
  }
  Sweep(listed);
}

void AutoscalerLoop::Sweep(const std::set<std::string>& listed) {
  // Anything held for a name the cache no longer has: a delete whose event
  // was missed, or state a late report or decision made after Forget(). The
  // cache is asked again, since a Function may have been created (and woken)
  // after the list was taken.
  std::vector<std::string> candidates;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, pf] : functions_state_) {
      if (!listed.contains(key)) candidates.push_back(key);
    }
  }
  for (const autoscaler::FunctionKey& fk : stats_.Functions()) {
    const std::string key = fk.String();
    if (!listed.contains(key)) candidates.push_back(key);
  }
  for (const std::string& key : candidates) {
    if (!functions_(key)) Forget(key);
  }
}

AutoscalerLoop::PerFunction& AutoscalerLoop::EntryLocked(const api::Function& fn) {
  const std::string key = fn.metadata.Key();
  PerFunction& pf = functions_state_[key];
  if (pf.uid != fn.metadata.uid) {
    // First sight, or the name now belongs to another incarnation: nothing
    // the old one did (panic, idleness, arrivals) may steer the new one.
    const bool recreated = !pf.uid.empty();
    pf = PerFunction{};
    pf.uid = fn.metadata.uid;
    if (recreated) stats_.Forget({fn.metadata.namespace_, fn.metadata.name});
  }
  return pf;
}

void AutoscalerLoop::Forget(const std::string& key) {
  const auto slash = key.find('/');
  if (slash != std::string::npos) stats_.Forget({key.substr(0, slash), key.substr(slash + 1)});
  std::lock_guard lock(mu_);
  functions_state_.erase(key);
}

std::vector<std::string> AutoscalerLoop::TrackedFunctions() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys;
  keys.reserve(functions_state_.size());
  for (const auto& [key, pf] : functions_state_) keys.push_back(key);
  return keys;
}

void AutoscalerLoop::DecideOne(const json& object) {
  auto decoded = api::DecodeFunction(object);
  if (!decoded.ok() || !api::ValidateFunction(*decoded).ok()) return;
  const api::Function& fn = *decoded;
  if (fn.metadata.deletion_timestamp) return;
  const std::string key = fn.metadata.Key();
  std::shared_ptr<const json> deployment = deployments_(key);
  if (!deployment) return;  // the reconciler has not created it yet
  // A Deployment of the same name that this Function does not control is
  // someone else's: never resized (the reconciler reports the conflict).
  if (!IsControlledBy(*deployment, fn.metadata.uid)) return;

  {
    // First: a recreated Function's old load history goes before it is read.
    std::lock_guard lock(mu_);
    EntryLocked(fn);
  }
  autoscaler::Samples samples = stats_.SamplesFor({fn.metadata.namespace_, fn.metadata.name});
  samples.ready_replicas = Int32At(*deployment, "/status/readyReplicas");
  samples.current_desired = Int32At(*deployment, "/spec/replicas");
  samples.backlog = autoscaler::TriggerBacklog(fn);
  const MonotonicTime now = clock_.Now();

  std::unique_lock lock(mu_);
  PerFunction& pf = EntryLocked(fn);
  // The informer shows our patch to 0 now: Wake may trust it again.
  if (pf.zeroed && samples.current_desired == 0) pf.zeroed = false;
  const autoscaler::DecisionState state_before = pf.state;
  autoscaler::Decision decision =
      autoscaler::Decide(samples, fn.spec.scaling, pf.state, now, options_.tuning);
  pf.state = decision.state;
  const ScalingStatus before = pf.status;
  pf.status.desired_replicas = decision.desired;
  if (samples.last_request_time) pf.status.last_request_time = ToWall(clock_, *samples.last_request_time);
  if (samples.queued > 0) {
    pf.status.active_reason = "Queued";
    pf.status.active_message = Cat(samples.queued, " requests wait for a ready replica");
  } else if (decision.desired > 0) {
    pf.status.active_reason = "Serving";
    pf.status.active_message = Cat(decision.desired, " replicas wanted (", decision.reason, ")");
  } else {
    pf.status.active_reason = "NoTraffic";
    pf.status.active_message = "scaled to zero; the next request wakes it";
  }
  const int32_t current = samples.current_desired;
  lock.unlock();

  if (decision.desired != current) {
    absl::Status patched;
    if (decision.desired == 0) {
      patched = ScaleToZero(fn, *deployment, samples, state_before);
      if (absl::IsAborted(patched) || kube::IsConflict(patched)) {
        // Not a failure: the decision was overtaken (a request, a Wake, any
        // change to the Deployment). As if it had not been taken: the next
        // tick decides again on what is now.
        log::Info("scale to zero overtaken", {{"function", key}, {"why", Message(patched)}});
        std::lock_guard relock(mu_);
        if (auto it = functions_state_.find(key); it != functions_state_.end()) {
          it->second.state = state_before;
          it->second.status.desired_replicas = current;
        }
        return;
      }
    } else {
      // Conditioned on the uid of the Deployment read: one replaced since
      // (deleted and created by someone else) answers 409.
      const json patch = {{"metadata", {{"uid", UidOf(*deployment)}}},
                          {"spec", {{"replicas", decision.desired}}}};
      patched = client_
                    .Patch(kube::DeploymentRef(fn.metadata.namespace_, fn.metadata.name).Sub("scale"),
                           kube::PatchType::kMerge, patch, {"zeroscale-autoscaler"})
                    .status();
      if (patched.ok()) {
        std::lock_guard relock(mu_);
        if (auto it = functions_state_.find(key); it != functions_state_.end()) it->second.zeroed = false;
      }
    }
    if (!patched.ok()) {
      log::Warn("scale failed", {{"function", key}, {"error", Message(patched)}});
      events_.Record(fn, EventType::kWarning, "ScaleFailed",
                     Cat("scaling from ", current, " to ", decision.desired, ": ", patched.message()));
      return;
    }
    NoteScaled(fn, current, decision.desired,
               Cat(decision.reason, ", stable concurrency ", decision.stable_concurrency,
                   ", panic concurrency ", decision.panic_concurrency));
  }
  bool changed = false;
  {
    std::lock_guard relock(mu_);
    auto it = functions_state_.find(key);
    if (it == functions_state_.end()) return;  // forgotten meanwhile
    const ScalingStatus& after = it->second.status;
    changed = after.active_reason != before.active_reason ||
              after.desired_replicas != before.desired_replicas ||
              after.last_scale_time != before.last_scale_time ||
              (after.last_request_time &&
               (!before.last_request_time ||
                *after.last_request_time - *before.last_request_time >= std::chrono::seconds(10)));
  }
  if (changed) enqueue_(key);
}

absl::Status AutoscalerLoop::ScaleToZero(const api::Function& fn, const json& deployment,
                                         const autoscaler::Samples& decided_on,
                                         const autoscaler::DecisionState& state_before) {
  const std::string key = fn.metadata.Key();
  std::shared_ptr<std::mutex> scale_mu;
  {
    std::lock_guard lock(mu_);
    auto it = functions_state_.find(key);
    if (it == functions_state_.end()) return absl::AbortedError("the Function was forgotten");
    scale_mu = it->second.scale_mu;
  }
  std::lock_guard scale_lock(*scale_mu);
  // Decide again on what is known now: a Wake notes its request before it
  // takes this lock, and a report may have brought one since.
  autoscaler::Samples fresh = stats_.SamplesFor({fn.metadata.namespace_, fn.metadata.name});
  fresh.ready_replicas = decided_on.ready_replicas;
  fresh.current_desired = decided_on.current_desired;
  fresh.backlog = decided_on.backlog;
  if (autoscaler::Decide(fresh, fn.spec.scaling, state_before, clock_.Now(), options_.tuning).desired != 0) {
    return absl::AbortedError("a request arrived after the decision");
  }
  // Conditioned on the Deployment the decision read: if anything changed it
  // since (a Wake above all), the apiserver answers 409 and nothing is undone.
  const json patch = {
      {"metadata",
       {{"uid", UidOf(deployment)},
        {"resourceVersion", deployment.value(json::json_pointer("/metadata/resourceVersion"), "")}}},
      {"spec", {{"replicas", 0}}}};
  auto patched = client_.Patch(kube::DeploymentRef(fn.metadata.namespace_, fn.metadata.name).Sub("scale"),
                               kube::PatchType::kMerge, patch, {"zeroscale-autoscaler"});
  if (!patched.ok()) return patched.status();
  std::lock_guard lock(mu_);
  if (auto it = functions_state_.find(key); it != functions_state_.end()) it->second.zeroed = true;
  return absl::OkStatus();
}

void AutoscalerLoop::NoteScaled(const api::Function& fn, int32_t from, int32_t to, const std::string& why) {
  const std::string key = fn.metadata.Key();
  {
    std::lock_guard lock(mu_);
    auto it = functions_state_.find(key);
    if (it == functions_state_.end()) return;  // forgotten meanwhile: nothing to report on
    it->second.status.last_scale_time = clock_.WallNow();
    it->second.status.desired_replicas = to;
  }
  metrics_.CountScale(fn.metadata.namespace_, fn.metadata.name, to > from ? "up" : "down");
  events_.Record(fn, EventType::kNormal, to > from ? "ScaledUp" : "ScaledDown",
                 Cat("scaled from ", from, " to ", to, " replicas (", why, ")"));
  log::Info("scaled", {{"function", key}, {"from", from}, {"to", to}, {"why", why}});
  enqueue_(key);
}

absl::StatusOr<AutoscalerLoop::WakeResult> AutoscalerLoop::Wake(const std::string& ns,
                                                                const std::string& name) {
  std::shared_lock waking(waking_mu_);
  if (stop_) return absl::UnavailableError("the autoscaler is stopped: this replica does not lead");
  const std::string key = Cat(ns, "/", name);
  std::shared_ptr<const json> object = functions_(key);
  if (!object) return WakeResult::kNotFound;
  auto fn = api::DecodeFunction(*object);
  if (!fn.ok()) return fn.status();
  std::shared_ptr<std::mutex> scale_mu;
  {
    std::lock_guard lock(mu_);
    scale_mu = EntryLocked(*fn).scale_mu;
  }
  // Not while a zero patch of this Function is being decided or sent.
  std::lock_guard scale_lock(*scale_mu);
  bool zeroed = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = functions_state_.find(key); it != functions_state_.end()) zeroed = it->second.zeroed;
  }
  // The arrival itself is noted by the gRPC service before it calls us.
  // Conditional on spec.replicas == 0 through the resourceVersion: the patch
  // fails with a conflict if anything changed the Deployment since we read
  // it, so a stale read can never scale a running function down. (A JSON
  // patch "test" cannot do it: autoscaling/v1 Scale omits replicas: 0.)
  // Only a Deployment this Function controls is resized: the read is of the
  // Deployment (not its Scale, which has no owner references) and the patch
  // carries its uid too. The cache is tried first (no extra round trip)
  // unless our own patch to 0 may not have reached it yet; on a conflict, or
  // when the cache lacks it (the cache holds only labelled Deployments), a
  // fresh read decides.
  std::shared_ptr<const json> cached = zeroed ? nullptr : deployments_(key);
  bool scaled = false;
  for (int attempt = 0; attempt < 3 && !scaled; ++attempt) {
    json deployment;
    if (attempt == 0 && cached) {
      deployment = *cached;
    } else {
      auto fresh = client_.Get(kube::DeploymentRef(ns, name));
      if (kube::IsNotFound(fresh.status())) return WakeResult::kNotFound;
      if (!fresh.ok()) return fresh.status();
      deployment = *std::move(fresh);
    }
    if (!IsControlledBy(deployment, fn->metadata.uid)) {
      return absl::FailedPreconditionError(
          Cat("Deployment ", key, " is not controlled by the Function: not resized"));
    }
    if (Int32At(deployment, "/spec/replicas") > 0) return WakeResult::kAlreadyActive;
    const json patch = {
        {"metadata",
         {{"uid", UidOf(deployment)},
          {"resourceVersion", deployment.value(json::json_pointer("/metadata/resourceVersion"), "")}}},
        {"spec", {{"replicas", 1}}}};
    auto patched = client_.Patch(kube::DeploymentRef(ns, name).Sub("scale"), kube::PatchType::kMerge, patch,
                                 {"zeroscale-autoscaler"});
    if (kube::IsConflict(patched.status())) continue;
    if (kube::IsNotFound(patched.status())) return WakeResult::kNotFound;
    if (!patched.ok()) return patched.status();
    scaled = true;
  }
  if (!scaled) return absl::AbortedError(Cat("waking ", key, ": the Deployment kept changing"));
  {
    std::lock_guard lock(mu_);
    if (auto it = functions_state_.find(key); it != functions_state_.end()) {
      PerFunction& pf = it->second;
      // The next decision must not undo the wake before the request lands.
      pf.state.scaled_to_zero_at.reset();
      pf.zeroed = false;
      pf.status.active_reason = "Queued";
      pf.status.active_message = "woken from zero by a request";
    }
  }
  NoteScaled(*fn, 0, 1, "woken by a request");
  return WakeResult::kScaled;
}

absl::StatusOr<int> AutoscalerLoop::ScaleFromZero(std::string_view ns, std::string_view name) {
  auto woken = Wake(std::string(ns), std::string(name));
  if (!woken.ok()) return woken.status();
  switch (*woken) {
    case WakeResult::kScaled:
      return 0;
    case WakeResult::kNotFound:
      return absl::NotFoundError(Cat("no Function ", ns, "/", name));
    case WakeResult::kAlreadyActive:
      break;
  }
  std::shared_ptr<const json> deployment = deployments_(Cat(ns, "/", name));
  return std::max(1, deployment ? Int32At(*deployment, "/spec/replicas") : 1);
}

std::optional<ScalingStatus> AutoscalerLoop::StatusOf(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = functions_state_.find(key);
  if (it == functions_state_.end()) return std::nullopt;
  return it->second.status;
}

}  // namespace zs::controller
