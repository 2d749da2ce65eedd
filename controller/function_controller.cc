#include "controller/function_controller.h"

#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"
#include "controller/resources/resources.h"

namespace zs::controller {

using nlohmann::json;

namespace {
Lister ListerOf(kube::Informer& informer) {
  return [&informer](const std::string& key) { return informer.Find(key); };
}
}  // namespace

FunctionController::FunctionController(kube::KubeClient& client, Clock& clock, ControllerMetrics& metrics,
                                       EventRecorder& events, ScalingStatusSource scaling, Options options)
    : client_(client),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      queue_(clock, {}, &metrics.work_queue()) {
  const std::string managed = Cat(resources::kManagedByLabel, "=", resources::kManagedBy);
  kube::InformerOptions fn_options;
  fn_options.name = "functions";
  functions_ = std::make_unique<kube::Informer>(client_, clock_,
                                                kube::kFunctions.In(options_.watch_namespace), fn_options);
  kube::InformerOptions child_options;
  child_options.label_selector = managed;
  child_options.name = "deployments";
  deployments_ = std::make_unique<kube::Informer>(
      client_, clock_, kube::kDeployments.In(options_.watch_namespace), child_options);
  child_options.name = "services";
  services_ = std::make_unique<kube::Informer>(client_, clock_, kube::kServices.In(options_.watch_namespace),
                                               child_options);
  child_options.name = "pods";
  pods_ = std::make_unique<kube::Informer>(client_, clock_, kube::kPods.In(options_.watch_namespace),
                                           child_options);
  reconciler_ = std::make_unique<FunctionReconciler>(
      client_, clock_, events, ListerOf(*functions_), ListerOf(*deployments_), ListerOf(*services_),
      std::move(scaling),
      FunctionReconciler::Options{.activator_url = options_.activator_url,
                                  .backoff = options_.backoff,
                                  .pods = [this](const std::string& key) { return PodsOf(key); }});

  functions_->AddHandlers({
      [this](const json& o) { Enqueue(kube::Informer::KeyOf(o)); },
      [this](const json&, const json& o) { Enqueue(kube::Informer::KeyOf(o)); },
      [this](const json& o) {
        const std::string ns = o["metadata"].value("namespace", "");
        const std::string name = o["metadata"].value("name", "");
        metrics_.RemoveFunction(ns, name);
        Enqueue(kube::Informer::KeyOf(o));
      },
  });
  for (kube::Informer* child : {deployments_.get(), services_.get()}) {
    child->AddHandlers({
        [this](const json& o) { EnqueueOwner(o); },
        [this](const json&, const json& o) { EnqueueOwner(o); },
        [this](const json& o) { EnqueueOwner(o); },
    });
  }
  pods_->AddHandlers({
      [this](const json& o) { NotePod(o, false); },
      [this](const json&, const json& o) { NotePod(o, false); },
      [this](const json& o) { NotePod(o, true); },
  });
}

FunctionController::~FunctionController() { Stop(); }

void FunctionController::NotePod(const json& pod, bool gone) {
  const json& meta = pod["metadata"];
  auto labels = meta.find("labels");
  if (labels == meta.end()) return;
  auto fn = labels->find(resources::kFunctionLabel);
  if (fn == labels->end() || !fn->is_string()) return;
  const std::string key = Cat(meta.value("namespace", ""), "/", fn->get<std::string>());
  {
    std::lock_guard lock(pods_mu_);
    std::set<std::string>& pods = pods_by_function_[key];
    if (gone) {
      pods.erase(kube::Informer::KeyOf(pod));
      if (pods.empty()) pods_by_function_.erase(key);
    } else {
      pods.insert(kube::Informer::KeyOf(pod));
    }
  }
  Enqueue(key);
}

std::vector<json> FunctionController::PodsOf(const std::string& key) const {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(pods_mu_);
    auto it = pods_by_function_.find(key);
    if (it == pods_by_function_.end()) return {};
    keys.assign(it->second.begin(), it->second.end());
  }
  std::vector<json> pods;
  for (const std::string& k : keys) {
    if (auto pod = pods_->Get(k)) pods.push_back(*std::move(pod));
  }
  return pods;
}

void FunctionController::StartInformers() {
  functions_->Start();
  deployments_->Start();
  services_->Start();
  pods_->Start();
}

bool FunctionController::WaitForSync(std::chrono::milliseconds timeout) const {
  return functions_->WaitForSync(timeout) && deployments_->WaitForSync(timeout) &&
         services_->WaitForSync(timeout) && pods_->WaitForSync(timeout);
}

bool FunctionController::HasSynced() const {
  return functions_->HasSynced() && deployments_->HasSynced() && services_->HasSynced() && pods_->HasSynced();
}

void FunctionController::StartWorkers() {
  if (!workers_.empty()) return;
  // Everything cached so far gets one reconcile after a (re)start.
  for (const json& fn : functions_->List()) Enqueue(kube::Informer::KeyOf(fn));
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Worker(); });
  resync_stop_ = std::make_unique<kube::StopSignal>();
  resync_ = std::thread([this] { Resync(); });
  log::Info("workers started", {{"workers", options_.workers},
                                {"sync_period_ms", static_cast<int64_t>(ToMillis(options_.sync_period))}});
}

void FunctionController::StopWorkers() {
  if (resync_stop_) resync_stop_->Stop();
  if (resync_.joinable()) resync_.join();
  queue_.ShutDown();
  for (auto& w : workers_) w.join();
  workers_.clear();
}

void FunctionController::Resync() {
  while (resync_stop_->WaitFor(clock_, options_.sync_period)) {
    for (const json& fn : functions_->List()) Enqueue(kube::Informer::KeyOf(fn));
  }
}

void FunctionController::Stop() {
  if (stopped_.exchange(true)) return;
  StopWorkers();
  functions_->Stop();
  deployments_->Stop();
  services_->Stop();
  pods_->Stop();
}

void FunctionController::Enqueue(const std::string& key) { queue_.Add(key); }

void FunctionController::EnqueueOwner(const json& child) {
  const json& meta = child["metadata"];
  auto labels = meta.find("labels");
  if (labels == meta.end()) return;
  auto fn = labels->find(resources::kFunctionLabel);
  if (fn == labels->end() || !fn->is_string()) return;
  Enqueue(Cat(meta.value("namespace", ""), "/", fn->get<std::string>()));
}

void FunctionController::Worker() {
  while (std::optional<std::string> key = queue_.Get()) {
    const MonotonicTime start = clock_.Now();
    auto result = reconciler_->Reconcile(*key);
    const double seconds = ToSeconds(clock_.Now() - start);
    if (!result.ok()) {
      metrics_.ObserveReconcile("error", seconds);
      log::Warn("reconcile failed", {{"function", *key},
                                     {"error", std::string(result.status().message())},
                                     {"requeues", queue_.NumRequeues(*key)}});
      queue_.AddRateLimited(*key);
    } else {
      metrics_.ObserveReconcile(result->outcome, seconds);
      queue_.Forget(*key);
      if (result->requeue_after) queue_.AddAfter(*key, *result->requeue_after);
    }
    // The replica gauges come from the Deployment as the informer has it
    // now (every change of it enqueues its Function), not from the
    // Function's status, which lags behind it by one status write.
    if (functions_->Contains(*key)) {
      if (auto deployment = deployments_->Find(*key)) {
        const json& meta = deployment->at("metadata");
        metrics_.SetReplicas(meta.value("namespace", ""), meta.value("name", ""),
                             deployment->value(json::json_pointer("/spec/replicas"), 0),
                             deployment->value(json::json_pointer("/status/readyReplicas"), 0));
      }
    }
    queue_.Done(*key);
  }
}

}  // namespace zs::controller
