#include "hack/node-agent/agent.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <future>

#include "absl/strings/escaping.h"
#include "common/kube/errors.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_format.h"
#include "hack/node-agent/exec.h"
#include "hack/node-agent/launch.h"
#include "hack/node-agent/pod_status.h"
#include "hack/node-agent/prober.h"

namespace zs::nodeagent {

namespace fs = std::filesystem;
using nlohmann::json;

struct Agent::ContainerRuntime {
  std::string name;
  json spec;
  ProbeSpec readiness;
  ContainerView view;
  pid_t pid = 0;
  bool running = false;
  bool exited = false;
  int generation = 0;
  MonotonicTime started_mono{};
  MonotonicTime next_start{};
  Duration backoff{};
  std::shared_ptr<kube::StopSignal> probe_stop;
  int probe_successes = 0;
  int probe_failures = 0;
  bool ever_ready = false;
};

struct Agent::PodRuntime {
  std::mutex mu;
  std::condition_variable exited_cv;  // a container process exited
  std::string key;
  std::string uid;
  std::string ns;
  std::string name;
  std::string restart_policy = "Always";
  Sandbox sandbox;
  bool sandbox_ready = false;
  std::string sandbox_error;
  std::string dir;
  std::string sa_dir;
  bool mount_token = true;
  SystemTime start_time{};
  std::vector<std::unique_ptr<ContainerRuntime>> containers;
  bool terminating = false;
  MonotonicTime kill_at{};
  bool killed = false;
  json last_status;
  MonotonicTime token_refresh_at{};
};

namespace {

constexpr char kMountTarget[] = "/var/run/secrets/kubernetes.io/serviceaccount";

std::string Meta(const json& object, const char* field) {
  return object.value("metadata", json::object()).value(field, "");
}

bool IsExecutable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(Cat("cannot write ", tmp));
    out << content;
    if (!out) return absl::InternalError(Cat("cannot write ", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return absl::InternalError(Cat("cannot rename ", tmp, ": ", ec.message()));
  return absl::OkStatus();
}

std::string MemoryCapacity() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return Cat(kib, "Ki");
  }
  return "1Gi";
}

// First 8 hex digits of the uid, dashes dropped: names the pod's folder.
std::string ShortUid(const std::string& uid) {
  std::string out;
  for (char c : uid) {
    if (c != '-') out.push_back(c);
    if (out.size() == 8) break;
  }
  return out;
}

}  // namespace

Agent::Agent(kube::KubeClient& client, Clock& clock, AgentOptions options, ImageMap images,
             std::unique_ptr<PodNetwork> network)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      images_(std::move(images)),
      network_(std::move(network)),
      queue_(clock, kube::RateLimiterOptions{std::chrono::milliseconds(100), std::chrono::seconds(30)}),
      bind_queue_(clock, kube::RateLimiterOptions{std::chrono::milliseconds(100), std::chrono::seconds(30)}) {
}

Agent::~Agent() { Stop(); }

void Agent::ThreadStarted() {
  std::lock_guard lock(threads_mu_);
  ++live_threads_;
}

void Agent::ThreadDone() {
  {
    std::lock_guard lock(threads_mu_);
    --live_threads_;
  }
  threads_cv_.notify_all();
}

absl::Status Agent::Start() {
  std::error_code ec;
  fs::create_directories(options_.root_dir + "/pods", ec);
  if (ec) return absl::InternalError(Cat("cannot create ", options_.root_dir, ": ", ec.message()));
  if (options_.mount_service_account) {
    // The bind-mount target must exist; an empty directory on the host.
    fs::create_directories(kMountTarget, ec);
  }
  int stale = network_->CleanStale();
  if (stale > 0) log::Info("removed pod sandboxes of a previous run", {{"count", stale}});
  network_->StartWarming();

  absl::Status registered = RegisterNode();
  if (!registered.ok()) return registered;
  if (absl::Status s = RenewLease(); !s.ok()) log::Warn("node lease", {{"error", std::string(s.message())}});

  kube::InformerOptions bound_options;
  bound_options.name = "pods-bound";
  bound_options.field_selector = "spec.nodeName=" + options_.node_name;
  bound_ = std::make_unique<kube::Informer>(client_, clock_, kube::kPods, bound_options);
  auto enqueue = [this](const json& object) { queue_.Add(kube::Informer::KeyOf(object)); };
  bound_->AddHandlers({enqueue, [enqueue](const json&, const json& object) { enqueue(object); }, enqueue});

  kube::InformerOptions unbound_options;
  unbound_options.name = "pods-unbound";
  unbound_options.field_selector = "spec.nodeName=";
  unbound_ = std::make_unique<kube::Informer>(client_, clock_, kube::kPods, unbound_options);
  auto enqueue_bind = [this](const json& object) { bind_queue_.Add(kube::Informer::KeyOf(object)); };
  unbound_->AddHandlers(
      {enqueue_bind, [enqueue_bind](const json&, const json& object) { enqueue_bind(object); }, nullptr});

  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] {
      while (auto key = queue_.Get()) {
        SyncPod(*key);
        queue_.Done(*key);
      }
    });
  }
  binder_ = std::thread([this] {
    while (auto key = bind_queue_.Get()) {
      Bind(*key);
      bind_queue_.Done(*key);
    }
  });
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  bound_->Start();
  unbound_->Start();
  log::Info("node agent started", {{"node", options_.node_name},
                                   {"gateway", network_->gateway()},
                                   {"host_ip", network_->host_ip()},
                                   {"images", images_.size()}});
  return absl::OkStatus();
}

void Agent::Stop() {
  if (stop_.stopped()) return;
  stop_.Stop();
  if (bound_) bound_->Stop();
  if (unbound_) unbound_->Stop();
  queue_.ShutDown();
  bind_queue_.ShutDown();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  if (binder_.joinable()) binder_.join();
  if (heartbeat_.joinable()) heartbeat_.join();
  std::map<std::string, std::shared_ptr<PodRuntime>> pods;
  {
    std::lock_guard lock(mu_);
    pods.swap(pods_);
  }
  for (auto& [key, pod] : pods) DestroyRuntime(pod, std::chrono::seconds(2));
  network_->StopWarming();
  std::unique_lock lock(threads_mu_);
  threads_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return live_threads_ == 0; });
  log::Info("node agent stopped", {{"pods_stopped", pods.size()}});
}

// --- node -------------------------------------------------------------------

absl::Status Agent::RegisterNode() {
  const std::string& name = options_.node_name;
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata",
                {{"name", name},
                 {"labels",
                  {{"kubernetes.io/hostname", name},
                   {"kubernetes.io/os", "linux"},
                   {"kubernetes.io/arch", "amd64"},
                   {"node.kubernetes.io/instance-type", "zs-local"}}}}}};
  absl::StatusOr<json> existing = client_.Get(kube::NodeRef(name));
  if (!existing.ok()) {
    if (!kube::IsNotFound(existing.status())) return existing.status();
    existing = client_.Create(kube::kNodes, node);
    if (!existing.ok() && !kube::IsAlreadyExists(existing.status())) return existing.status();
    if (!existing.ok()) existing = client_.Get(kube::NodeRef(name));
    if (!existing.ok()) return existing.status();
  }
  node_uid_ = Meta(*existing, "uid");
  return PatchNodeStatus();
}

absl::Status Agent::PatchNodeStatus() {
  const std::string now = FormatRfc3339(clock_.WallNow());
  const std::string cpu = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  json resources = {
      {"cpu", cpu}, {"memory", MemoryCapacity()}, {"pods", "110"}, {"ephemeral-storage", "10Gi"}};
  auto condition = [&](const char* type, const char* status, const char* reason, const char* message) {
    return json{{"type", type},       {"status", status},         {"reason", reason},
                {"message", message}, {"lastHeartbeatTime", now}, {"lastTransitionTime", now}};
  };
  utsname uts{};
  ::uname(&uts);
  json status = {
      {"capacity", resources},
      {"allocatable", resources},
      {"conditions",
       {condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                  "zs-node-agent does not measure memory"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "zs-node-agent does not measure disk"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "zs-node-agent does not measure pids"),
        condition("Ready", "True", "KubeletReady", "zs-node-agent is posting ready status")}},
      {"addresses",
       {{{"type", "InternalIP"}, {"address", network_->host_ip()}},
        {{"type", "Hostname"}, {"address", options_.node_name}}}},
      {"nodeInfo",
       {{"kernelVersion", uts.release},
        {"osImage", "zeroscale local node"},
        {"containerRuntimeVersion", "zs-node-agent://0.1"},
        {"kubeletVersion", "v1.37.2-zs"},
        {"operatingSystem", "linux"},
        {"architecture", "amd64"},
        {"machineID", ""},
        {"systemUUID", ""},
        {"bootID", ""}}},
  };
  // What this node can run, as a kubelet lists its pulled images.
  json node_images = json::array();
  for (const auto& name : images_.Names()) {
    std::error_code ec;
    auto entry = images_.Find(name);
    uintmax_t size = entry.ok() && !entry->entrypoint.empty() ? fs::file_size(entry->entrypoint, ec) : 0;
    node_images.push_back({{"names", {name}}, {"sizeBytes", ec ? 0 : size}});
  }
  status["images"] = node_images;
  // lastTransitionTime must not move on every heartbeat: keep the old ones.
  absl::StatusOr<json> current = client_.Get(kube::NodeRef(options_.node_name));
  if (current.ok()) {
    json old_conditions = current->value("status", json::object()).value("conditions", json::array());
    for (auto& c : status["conditions"]) {
      for (const auto& old : old_conditions) {
        if (old.value("type", "") == c["type"] && old.value("status", "") == c["status"]) {
          c["lastTransitionTime"] = old.value("lastTransitionTime", now);
        }
      }
    }
  }
  return client_.PatchStatus(kube::NodeRef(options_.node_name), {{"status", status}}).status();
}

absl::Status Agent::RenewLease() {
  const kube::ResourceRef ref = kube::LeaseRef("kube-node-lease", options_.node_name);
  const std::string now = FormatRfc3339Micros(clock_.WallNow());
  json spec = {{"holderIdentity", options_.node_name}, {"leaseDurationSeconds", 40}, {"renewTime", now}};
  absl::StatusOr<json> lease = client_.Get(ref);
  if (!lease.ok()) {
    if (!kube::IsNotFound(lease.status())) return lease.status();
    json object = {{"apiVersion", "coordination.k8s.io/v1"},
                   {"kind", "Lease"},
                   {"metadata", {{"name", options_.node_name}, {"namespace", "kube-node-lease"}}},
                   {"spec", spec}};
    if (!node_uid_.empty()) {
      object["metadata"]["ownerReferences"] = {
          {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", options_.node_name}, {"uid", node_uid_}}};
    }
    return client_.Create(ref.Collection(), object).status();
  }
  json updated = *lease;
  updated["spec"]["holderIdentity"] = options_.node_name;
  updated["spec"]["leaseDurationSeconds"] = 40;
  updated["spec"]["renewTime"] = now;
  return client_.Update(ref, updated).status();
}

void Agent::HeartbeatLoop() {
  MonotonicTime next_status = clock_.Now() + options_.node_status_period;
  uint64_t epoch = network_->ClusterEpoch();
  for (;;) {
    MonotonicTime attempt = clock_.Now();
    if (!stop_.WaitUntil(clock_, attempt + options_.lease_renew_period)) return;
    if (uint64_t now_epoch = network_->ClusterEpoch(); now_epoch != epoch && now_epoch != 0) {
      epoch = now_epoch;
      log::Warn("cluster network namespace changed; resyncing every pod", {});
      for (const auto& pod : bound_->List()) queue_.Add(kube::Informer::KeyOf(pod));
    }
    if (absl::Status s = RenewLease(); !s.ok()) {
      log::Warn("cannot renew node lease", {{"error", std::string(s.message())}});
    }
    if (clock_.Now() >= next_status) {
      if (absl::Status s = PatchNodeStatus(); !s.ok()) {
        log::Warn("cannot update node status", {{"error", std::string(s.message())}});
      }
      next_status = clock_.Now() + options_.node_status_period;
    }
  }
}

// --- scheduling ---------------------------------------------------------------

void Agent::Bind(const std::string& key) {
  std::optional<json> pod = unbound_->Get(key);
  if (!pod) return;
  const json spec = pod->value("spec", json::object());
  if (!spec.value("nodeName", "").empty() ||
      pod->value("metadata", json::object()).contains("deletionTimestamp")) {
    return;
  }
  const std::string scheduler = spec.value("schedulerName", "default-scheduler");
  if (scheduler != "default-scheduler") return;
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", Meta(*pod, "name")}, {"namespace", Meta(*pod, "namespace")}}},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", options_.node_name}}}};
  absl::StatusOr<json> bound =
      client_.Create(kube::PodRef(Meta(*pod, "namespace"), Meta(*pod, "name")).Sub("binding"), binding);
  if (bound.ok()) {
    bind_queue_.Forget(key);
    log::Debug("bound pod", {{"pod", key}, {"node", options_.node_name}});
    return;
  }
  const absl::Status& s = bound.status();
  if (kube::IsNotFound(s) || kube::IsConflict(s) || kube::IsAlreadyExists(s)) return;
  log::Warn("cannot bind pod", {{"pod", key}, {"error", std::string(s.message())}});
  bind_queue_.AddRateLimited(key);
}

// --- pods ---------------------------------------------------------------------

std::shared_ptr<Agent::PodRuntime> Agent::FindRuntime(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = pods_.find(key);
  return it == pods_.end() ? nullptr : it->second;
}

void Agent::SyncPod(const std::string& key) {
  std::optional<json> object = bound_->Get(key);
  std::shared_ptr<PodRuntime> pod = FindRuntime(key);
  auto forget = [&] {
    std::lock_guard lock(mu_);
    pods_.erase(key);
  };
  if (!object) {
    if (pod) {
      DestroyRuntime(pod, Duration::zero());
      forget();
    }
    return;
  }
  const std::string uid = Meta(*object, "uid");
  if (pod && pod->uid != uid) {
    DestroyRuntime(pod, Duration::zero());
    forget();
    pod = nullptr;
  }
  if (object->value("metadata", json::object()).contains("deletionTimestamp")) {
    HandleDeletion(key, pod, *object);
    return;
  }
  if (pod) {
    bool stale;
    {
      std::lock_guard lock(pod->mu);
      stale = pod->sandbox_ready && pod->sandbox.epoch != network_->ClusterEpoch();
    }
    if (stale) {
      // The cluster netns was recreated (cluster-up after a crash): the veth
      // went with it. Start the pod again in a fresh sandbox.
      log::Warn("cluster network was recreated; rebuilding pod sandbox", {{"pod", key}});
      DestroyRuntime(pod, Duration::zero());
      forget();
      pod = nullptr;
    }
  }
  const json spec = object->value("spec", json::object());
  if (!pod) {
    const std::string phase = object->value("status", json::object()).value("phase", "");
    // Finished before (e.g. before an agent restart): never run again.
    if (phase == "Succeeded" || phase == "Failed") return;
    pod = std::make_shared<PodRuntime>();
    pod->key = key;
    pod->uid = uid;
    pod->ns = Meta(*object, "namespace");
    pod->name = Meta(*object, "name");
    pod->restart_policy = spec.value("restartPolicy", "Always");
    pod->mount_token = spec.value("automountServiceAccountToken", true);
    pod->start_time = clock_.WallNow();
    pod->dir = Cat(options_.root_dir, "/pods/", pod->ns, "_", pod->name, "_", ShortUid(uid));
    pod->sa_dir = pod->dir + "/serviceaccount";
    // Restart counts survive an agent restart, as they do a kubelet restart.
    std::map<std::string, int> old_restarts;
    for (const auto& s : object->value("status", json::object()).value("containerStatuses", json::array())) {
      old_restarts[s.value("name", "")] = s.value("restartCount", 0);
    }
    for (const auto& c : spec.value("containers", json::array())) {
      auto container = std::make_unique<ContainerRuntime>();
      container->name = c.value("name", "");
      container->spec = c;
      container->readiness = ParseProbe(c);
      container->view.name = container->name;
      container->view.image = c.value("image", "");
      container->view.restart_count = old_restarts[container->name];
      pod->containers.push_back(std::move(container));
    }
    std::lock_guard lock(mu_);
    pods_[key] = pod;
  }

  bool sandbox_ready;
  {
    std::lock_guard lock(pod->mu);
    sandbox_ready = pod->sandbox_ready;
  }
  if (!sandbox_ready) {
    absl::Status s = SetupSandbox(*pod, *object);
    if (!s.ok()) {
      log::Warn("cannot create pod sandbox", {{"pod", key}, {"error", std::string(s.message())}});
      {
        std::lock_guard lock(pod->mu);
        pod->sandbox_error = std::string(s.message());
      }
      ReportStatus(pod, *object);
      queue_.AddRateLimited(key);
      return;
    }
    queue_.Forget(key);
  } else if (pod->mount_token && clock_.Now() >= pod->token_refresh_at) {
    if (absl::Status s = WriteToken(*pod, *object); !s.ok()) {
      log::Warn("cannot refresh service account token", {{"pod", key}, {"error", std::string(s.message())}});
      queue_.AddAfter(key, std::chrono::seconds(10));
    }
  }
  if (pod->mount_token) queue_.AddAfter(key, pod->token_refresh_at - clock_.Now());
  for (auto& container : pod->containers) EnsureContainer(pod, *container, *object);
  ReportStatus(pod, *object);
}

absl::Status Agent::WriteToken(PodRuntime& pod, const json& object) {
  const std::string sa = object.value("spec", json::object()).value("serviceAccountName", "default");
  absl::StatusOr<json> token = client_.RequestToken(pod.ns, sa.empty() ? "default" : sa,
                                                    options_.token_expiration_seconds, {}, pod.name, pod.uid);
  if (!token.ok()) return token.status();
  const std::string text = token->value("status", json::object()).value("token", "");
  if (text.empty()) return absl::InternalError("TokenRequest returned no token");
  std::error_code ec;
  fs::create_directories(pod.sa_dir, ec);
  if (absl::Status s = WriteFileAtomically(pod.sa_dir + "/token", text); !s.ok()) return s;
  if (absl::Status s = WriteFileAtomically(pod.sa_dir + "/ca.crt", options_.cluster_ca_pem); !s.ok())
    return s;
  if (absl::Status s = WriteFileAtomically(pod.sa_dir + "/namespace", pod.ns); !s.ok()) return s;
  // Refresh at 80% of the lifetime, as the kubelet does.
  std::lock_guard lock(pod.mu);
  pod.token_refresh_at = clock_.Now() + std::chrono::seconds(options_.token_expiration_seconds * 8 / 10);
  return absl::OkStatus();
}

absl::Status Agent::SetupSandbox(PodRuntime& pod, const json& object) {
  std::error_code ec;
  fs::create_directories(pod.dir + "/logs", ec);
  fs::create_directories(pod.sa_dir, ec);
  if (ec) return absl::InternalError(Cat("cannot create ", pod.dir, ": ", ec.message()));
  // The TokenRequest (an apiserver round trip) overlaps the network plumbing
  // (a warm sandbox, or a few `ip` runs): both are on the cold-start path.
  std::future<absl::Status> token;
  if (pod.mount_token) token = std::async(std::launch::async, [&] { return WriteToken(pod, object); });
  absl::StatusOr<Sandbox> sandbox = network_->Setup();
  absl::Status token_status = token.valid() ? token.get() : absl::OkStatus();
  if (!sandbox.ok()) return sandbox.status();
  if (!token_status.ok()) {
    network_->Teardown(*sandbox);
    return token_status;
  }
  std::lock_guard lock(pod.mu);
  pod.sandbox = *sandbox;
  pod.sandbox_ready = true;
  pod.sandbox_error.clear();
  log::Info("pod sandbox ready", {{"pod", pod.key}, {"ip", sandbox->ip}, {"netns", sandbox->netns}});
  return absl::OkStatus();
}

void Agent::EnsureContainer(const std::shared_ptr<PodRuntime>& pod, ContainerRuntime& container,
                            const json& object) {
  {
    std::lock_guard lock(pod->mu);
    if (container.running || pod->terminating) return;
    if (container.exited) {
      const int exit_code = container.view.terminated ? container.view.terminated->exit_code : 0;
      const bool restart =
          pod->restart_policy == "Always" || (pod->restart_policy == "OnFailure" && exit_code != 0);
      container.view.will_restart = restart;
      if (!restart) {
        container.view.state = ContainerView::State::kTerminated;
        return;
      }
      const MonotonicTime now = clock_.Now();
      if (now < container.next_start) {
        container.view.state = ContainerView::State::kWaiting;
        container.view.waiting_reason = "CrashLoopBackOff";
        container.view.waiting_message = Cat("back-off ", static_cast<int64_t>(ToSeconds(container.backoff)),
                                             "s restarting failed container=", container.name,
                                             " pod=", pod->name, "_", pod->ns, "(", pod->uid, ")");
        queue_.AddAfter(pod->key, container.next_start - now);
        return;
      }
    }
  }
  StartContainer(pod, container, object);
}

void Agent::StartContainer(const std::shared_ptr<PodRuntime>& pod, ContainerRuntime& container,
                           const json& object) {
  PodContext context;
  {
    std::lock_guard lock(pod->mu);
    context.pod_ip = pod->sandbox.ip;
  }
  context.host_ip = network_->host_ip();
  context.node_name = options_.node_name;
  context.apiserver_host = options_.apiserver_host.empty() ? network_->gateway() : options_.apiserver_host;
  context.apiserver_port = options_.apiserver_port;
  context.service_account_dir = pod->mount_token ? pod->sa_dir : "";
  LaunchError error;
  absl::StatusOr<LaunchSpec> launch = BuildLaunch(
      object, container.spec, images_, context,
      [this](const std::string& kind, const std::string& ns, const std::string& name,
             const std::string& key) { return LookupKey(kind, ns, name, key); },
      IsExecutable, &error);

  std::unique_lock lock(pod->mu);
  if (!launch.ok()) {
    container.view.state = ContainerView::State::kWaiting;
    container.view.waiting_reason = error.reason;
    container.view.waiting_message = error.message;
    lock.unlock();
    log::Warn("cannot start container", {{"pod", pod->key},
                                         {"container", container.name},
                                         {"reason", error.reason},
                                         {"message", error.message}});
    queue_.AddAfter(pod->key, std::chrono::seconds(5));
    return;
  }
  ProcessSpec process;
  process.executable = launch->executable;
  process.argv = launch->argv;
  process.env = launch->env;
  process.working_dir = launch->working_dir;
  process.netns_path = pod->sandbox.netns_path;
  process.hostname = pod->name.substr(0, 63);
  if (pod->mount_token && options_.mount_service_account) {
    process.mount_source = pod->sa_dir;
    process.mount_target = kMountTarget;
  }
  process.log_path = Cat(pod->dir, "/logs/", container.name, ".log");
  absl::StatusOr<pid_t> pid = SpawnProcess(process);
  if (!pid.ok()) {
    container.view.state = ContainerView::State::kWaiting;
    container.view.waiting_reason = "RunContainerError";
    container.view.waiting_message = std::string(pid.status().message());
    lock.unlock();
    queue_.AddAfter(pod->key, options_.restart_backoff);
    return;
  }
  if (container.exited) {
    container.view.last_termination = container.view.terminated;
    ++container.view.restart_count;
  }
  container.exited = false;
  container.running = true;
  container.pid = *pid;
  const int generation = ++container.generation;
  container.started_mono = clock_.Now();
  container.view.state = ContainerView::State::kRunning;
  container.view.started_at = clock_.WallNow();
  container.view.terminated.reset();
  container.view.will_restart = false;
  container.view.image_id = "zs-local://" + launch->executable;
  container.view.container_id = ContainerId(pod->sandbox, container.name, generation);
  container.probe_successes = 0;
  container.probe_failures = 0;
  container.ever_ready = false;
  const bool probed =
      container.readiness.kind == ProbeSpec::Kind::kHttp || container.readiness.kind == ProbeSpec::Kind::kTcp;
  container.view.ready = !probed;
  if (probed) container.probe_stop = std::make_shared<kube::StopSignal>();
  lock.unlock();

  log::Info("container started", {{"pod", pod->key},
                                  {"container", container.name},
                                  {"pid", *pid},
                                  {"executable", launch->executable},
                                  {"ip", context.pod_ip}});
  if (container.readiness.kind == ProbeSpec::Kind::kUnsupported) {
    log::Warn("unsupported readiness probe; ready when running",
              {{"pod", pod->key}, {"container", container.name}});
  }
  ThreadStarted();
  std::thread([this, pod, &container, pid = *pid, generation] {
    Watch(pod, container, pid, generation);
  }).detach();
  if (probed) {
    ThreadStarted();
    std::thread([this, pod, &container, generation] { Probe(pod, container, generation); }).detach();
  }
}

void Agent::Watch(const std::shared_ptr<PodRuntime>& pod, ContainerRuntime& container, pid_t pid,
                  int generation) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard lock(pod->mu);
    if (container.generation == generation) {
      const MonotonicTime now = clock_.Now();
      Termination t;
      if (WIFSIGNALED(status)) {
        t.signal = WTERMSIG(status);
        t.exit_code = 128 + t.signal;
      } else {
        t.exit_code = WEXITSTATUS(status);
      }
      t.reason = t.exit_code == 0 ? "Completed" : "Error";
      t.started_at = container.view.started_at;
      t.finished_at = clock_.WallNow();
      t.container_id = container.view.container_id;
      container.running = false;
      container.exited = true;
      container.view.ready = false;
      container.view.terminated = t;
      container.view.state = ContainerView::State::kTerminated;
      // Back off restarts (doubling up to the max); a container that ran for
      // a while starts again from the initial delay.
      if (now - container.started_mono > options_.max_restart_backoff ||
          container.backoff == Duration::zero()) {
        container.backoff = options_.restart_backoff;
      } else {
        container.backoff = std::min<Duration>(container.backoff * 2, options_.max_restart_backoff);
      }
      container.next_start = now + container.backoff;
      if (container.probe_stop) container.probe_stop->Stop();
      log::Info("container exited", {{"pod", pod->key},
                                     {"container", container.name},
                                     {"exit_code", t.exit_code},
                                     {"signal", t.signal}});
    }
  }
  pod->exited_cv.notify_all();
  queue_.Add(pod->key);
  ThreadDone();
}

void Agent::Probe(const std::shared_ptr<PodRuntime>& pod, ContainerRuntime& container, int generation) {
  std::shared_ptr<kube::StopSignal> stop;
  ProbeSpec spec;
  std::string ip;
  {
    std::lock_guard lock(pod->mu);
    stop = container.probe_stop;
    spec = container.readiness;
    ip = pod->sandbox.ip;
  }
  if (stop && stop->WaitFor(clock_, spec.initial_delay)) {
    while (!stop->stopped() && !stop_.stopped()) {
      const MonotonicTime attempt = clock_.Now();
      const bool ok = RunProbe(spec, ip);
      bool changed = false;
      bool ever_ready = false;
      {
        std::lock_guard lock(pod->mu);
        if (container.generation != generation || !container.running) break;
        if (ok) {
          ++container.probe_successes;
          container.probe_failures = 0;
          if (!container.view.ready && container.probe_successes >= spec.success_threshold) {
            container.view.ready = true;
            container.ever_ready = true;
            changed = true;
          }
        } else {
          ++container.probe_failures;
          container.probe_successes = 0;
          if (container.view.ready && container.probe_failures >= spec.failure_threshold) {
            container.view.ready = false;
            changed = true;
          }
        }
        ever_ready = container.ever_ready;
      }
      if (changed) queue_.Add(pod->key);
      // Until the first success probe fast: the time to ready is the cold
      // start users wait for. Afterwards the spec's period.
      stop->WaitUntil(clock_, attempt + (ever_ready ? spec.period : options_.fast_probe_interval));
    }
  }
  ThreadDone();
}

void Agent::HandleDeletion(const std::string& key, const std::shared_ptr<PodRuntime>& pod,
                           const json& object) {
  const std::string uid = Meta(object, "uid");
  auto delete_object = [&] {
    kube::DeleteOptions options;
    options.grace_period_seconds = 0;
    options.precondition_uid = uid;
    absl::StatusOr<json> deleted =
        client_.Delete(kube::PodRef(Meta(object, "namespace"), Meta(object, "name")), options);
    if (!deleted.ok() && !kube::IsNotFound(deleted.status()) && !kube::IsConflict(deleted.status())) {
      log::Warn("cannot delete pod", {{"pod", key}, {"error", std::string(deleted.status().message())}});
      queue_.AddRateLimited(key);
    }
  };
  if (!pod) {
    delete_object();
    return;
  }
  std::vector<pid_t> running;
  bool first = false;
  MonotonicTime kill_at;
  bool kill_now = false;
  {
    std::lock_guard lock(pod->mu);
    for (auto& c : pod->containers) {
      if (c->running) running.push_back(c->pid);
    }
    if (!running.empty() && !pod->terminating) {
      pod->terminating = true;
      first = true;
      int64_t grace =
          object.value("metadata", json::object()).value("deletionGracePeriodSeconds", int64_t{-1});
      if (grace < 0)
        grace = object.value("spec", json::object()).value("terminationGracePeriodSeconds", int64_t{30});
      pod->kill_at = clock_.Now() + std::chrono::seconds(grace);
      for (auto& c : pod->containers) {
        c->view.ready = false;
        if (c->probe_stop) c->probe_stop->Stop();
      }
    }
    pod->terminating = true;
    kill_at = pod->kill_at;
    if (!running.empty() && !pod->killed && clock_.Now() >= kill_at) {
      pod->killed = true;
      kill_now = true;
    }
  }
  if (!running.empty()) {
    if (first) {
      log::Info("stopping pod", {{"pod", key}, {"grace_s", ToSeconds(kill_at - clock_.Now())}});
      for (pid_t pid : running) SignalGroup(pid, SIGTERM);
      ReportStatus(pod, object);
    }
    if (kill_now) {
      for (pid_t pid : running) SignalGroup(pid, SIGKILL);
    } else {
      // Exits re-queue the key at once; this wakes us for the SIGKILL.
      queue_.AddAfter(key, kill_at - clock_.Now());
    }
    return;
  }
  DestroyRuntime(pod, Duration::zero());
  {
    std::lock_guard lock(mu_);
    pods_.erase(key);
  }
  delete_object();
}

void Agent::DestroyRuntime(const std::shared_ptr<PodRuntime>& pod, Duration grace) {
  std::unique_lock lock(pod->mu);
  pod->terminating = true;
  auto any_running = [&] {
    for (auto& c : pod->containers) {
      if (c->running) return true;
    }
    return false;
  };
  auto signal_all = [&](int sig) {
    for (auto& c : pod->containers) {
      if (c->probe_stop) c->probe_stop->Stop();
      if (c->running) SignalGroup(c->pid, sig);
    }
  };
  // Real-time waits: only used when the pod is already gone or the agent is
  // stopping, where nothing else is waiting on the clock.
  if (grace > Duration::zero() && any_running()) {
    signal_all(SIGTERM);
    pod->exited_cv.wait_for(lock, grace, [&] { return !any_running(); });
  }
  if (any_running()) {
    signal_all(SIGKILL);
    pod->exited_cv.wait_for(lock, std::chrono::seconds(5), [&] { return !any_running(); });
  }
  const bool had_sandbox = pod->sandbox_ready;
  const Sandbox sandbox = pod->sandbox;
  pod->sandbox_ready = false;
  lock.unlock();
  if (had_sandbox) network_->Teardown(sandbox);
  std::error_code ec;
  fs::remove_all(pod->sa_dir, ec);
  log::Info("pod sandbox removed", {{"pod", pod->key}});
}

void Agent::ReportStatus(const std::shared_ptr<PodRuntime>& pod, const json& object) {
  PodView view;
  json old_status;
  {
    std::lock_guard lock(pod->mu);
    view.sandbox_ready = pod->sandbox_ready;
    view.sandbox_error = pod->sandbox_error;
    view.pod_ip = pod->sandbox.ip;
    view.host_ip = network_->host_ip();
    view.start_time = pod->start_time;
    for (const auto& c : pod->containers) view.containers.push_back(c->view);
    old_status = pod->last_status.is_null() ? object.value("status", json::object()) : pod->last_status;
  }
  json status = BuildPodStatus(view, old_status, clock_.WallNow());
  {
    std::lock_guard lock(pod->mu);
    if (status == pod->last_status) return;
  }
  absl::StatusOr<json> patched = client_.PatchStatus(kube::PodRef(pod->ns, pod->name), {{"status", status}});
  if (!patched.ok()) {
    if (kube::IsNotFound(patched.status())) return;
    log::Warn("cannot update pod status",
              {{"pod", pod->key}, {"error", std::string(patched.status().message())}});
    queue_.AddRateLimited(pod->key);
    return;
  }
  std::lock_guard lock(pod->mu);
  pod->last_status = status;
}

absl::StatusOr<std::string> Agent::LookupKey(const std::string& kind, const std::string& ns,
                                             const std::string& name, const std::string& key) {
  const bool secret = kind == "secret";
  absl::StatusOr<json> object = client_.Get((secret ? kube::kSecrets : kube::kConfigMaps).In(ns).Named(name));
  if (!object.ok()) return object.status();
  json data = object->value("data", json::object());
  if (!data.contains(key)) return absl::NotFoundError(Cat(kind, " ", ns, "/", name, " has no key ", key));
  std::string value = data[key].get<std::string>();
  if (!secret) return value;
  std::string decoded;
  if (!absl::Base64Unescape(value, &decoded)) return absl::InvalidArgumentError("secret value is not base64");
  return decoded;
}

}  // namespace zs::nodeagent
