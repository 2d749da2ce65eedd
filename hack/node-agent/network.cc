#include "hack/node-agent/network.h"

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>
#include <string_view>

#include "common/log.h"
#include "common/strings.h"
#include "hack/node-agent/exec.h"

namespace zs::nodeagent {
namespace {

constexpr char kNetnsPrefix[] = "zs-pod-";

std::string HexId(uint32_t id) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", id);
  return text;
}

// The word after `key` in `text` ("inet 10.88.0.1/16 ..." -> "10.88.0.1/16").
std::string WordAfter(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    if (word == key && (in >> word)) return word;
  }
  return "";
}

}  // namespace

std::string ContainerId(const Sandbox& sandbox, const std::string& container, int generation) {
  return Cat("zs://", sandbox.netns, "/", container, "/", generation);
}

std::string NetnsOfContainerId(const std::string& container_id) {
  constexpr std::string_view kScheme = "zs://";
  if (container_id.rfind(kScheme, 0) != 0) return "";
  const size_t end = container_id.find('/', kScheme.size());
  return container_id.substr(kScheme.size(), end == std::string::npos ? end : end - kScheme.size());
}

absl::StatusOr<std::unique_ptr<PodNetwork>> PodNetwork::Create(NetworkConfig config) {
  std::string out;
  absl::Status s =
      RunCommand({"ip", "-n", config.cluster_netns, "-o", "-4", "addr", "show", "dev", config.bridge}, &out);
  if (!s.ok())
    return absl::FailedPreconditionError(Cat("cluster bridge not found (is the cluster up?): ", s.message()));
  std::string cidr = WordAfter(out, "inet");
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) {
    return absl::FailedPreconditionError(Cat("bridge ", config.bridge, " has no IPv4 address: ", out));
  }
  std::string gateway = cidr.substr(0, slash);
  int prefix = std::atoi(cidr.substr(slash + 1).c_str());

  std::string host_ip;
  if (RunCommand({"ip", "-o", "-4", "route", "get", gateway}, &out).ok()) host_ip = WordAfter(out, "src");
  if (host_ip.empty()) host_ip = gateway;

  absl::StatusOr<std::unique_ptr<Ipam>> ipam = Ipam::Create(config.pod_cidr, {gateway});
  if (!ipam.ok()) return ipam.status();
  return std::unique_ptr<PodNetwork>(
      new PodNetwork(std::move(config), std::move(gateway), prefix, std::move(host_ip), std::move(*ipam)));
}

PodNetwork::PodNetwork(NetworkConfig config, std::string gateway, int prefix, std::string host_ip,
                       std::unique_ptr<Ipam> ipam)
    : config_(std::move(config)),
      gateway_(std::move(gateway)),
      prefix_(prefix),
      host_ip_(std::move(host_ip)),
      ipam_(std::move(ipam)),
      // Ids of this run do not meet a previous run's (CleanStale removes
      // those anyway).
      next_id_(std::random_device{}()) {}

PodNetwork::~PodNetwork() { StopWarming(); }

void PodNetwork::StartWarming() {
  if (config_.warm_sandboxes <= 0 || warmer_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  warmer_ = std::thread([this] { Warm(); });
}

void PodNetwork::StopWarming() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (warmer_.joinable()) warmer_.join();
  std::deque<Sandbox> warm;
  {
    std::lock_guard lock(mu_);
    warm.swap(warm_);
  }
  for (const Sandbox& sandbox : warm) Teardown(sandbox);
}

size_t PodNetwork::warm() const {
  std::lock_guard lock(mu_);
  return warm_.size();
}

void PodNetwork::Warm() {
  const size_t target = static_cast<size_t>(config_.warm_sandboxes);
  std::unique_lock lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || warm_.size() < target; });
    if (stopping_) return;
    // Not while the pod that took the last one starts.
    if (last_taken_) {
      changed_.wait_until(lock, *last_taken_ + config_.refill_delay, [&] { return stopping_; });
      if (stopping_) return;
    }
    lock.unlock();
    absl::StatusOr<Sandbox> made = Make();
    lock.lock();
    if (made.ok()) {
      warm_.push_back(*std::move(made));  // StopWarming removes it if stopping
      continue;
    }
    log::Warn("cannot make a warm pod sandbox; retrying in 1s",
              {{"error", std::string(made.status().message())}});
    changed_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
  }
}

absl::StatusOr<Sandbox> PodNetwork::Setup() {
  std::optional<Sandbox> taken;
  {
    std::lock_guard lock(mu_);
    if (!warm_.empty()) {
      taken = std::move(warm_.front());
      warm_.pop_front();
      last_taken_ = std::chrono::steady_clock::now();
    }
  }
  if (taken) {
    changed_.notify_all();
    // The cluster netns recreated since (hack/cluster-up.sh after a crash)
    // took the warm veth with it.
    if (taken->epoch == ClusterEpoch()) return *std::move(taken);
    Teardown(*taken);
  }
  return Make();
}

absl::StatusOr<Sandbox> PodNetwork::Make() {
  Sandbox sandbox;
  const std::string id = HexId(next_id_.fetch_add(1));
  sandbox.netns = kNetnsPrefix + id;
  sandbox.netns_path = "/run/netns/" + sandbox.netns;
  sandbox.host_veth = "zsv" + id;
  absl::StatusOr<std::string> ip = ipam_->Allocate();
  if (!ip.ok()) return ip.status();
  sandbox.ip = *ip;
  sandbox.epoch = ClusterEpoch();

  // Three `ip` runs (each costs a few ms of fork/exec, more under load):
  // the netns, then one batch inside the cluster netns and one inside the pod's.
  const std::string& cluster = config_.cluster_netns;
  struct Step {
    std::vector<std::string> argv;
    std::string batch;
  };
  const std::vector<Step> steps = {
      {{"ip", "netns", "add", sandbox.netns}, ""},
      {{"ip", "-n", cluster, "-batch", "-"},
       Cat("link add ", sandbox.host_veth, " type veth peer name eth0 netns ", sandbox.netns, "\n",
           "link set ", sandbox.host_veth, " master ", config_.bridge, " up\n")},
      {{"ip", "-n", sandbox.netns, "-batch", "-"},
       Cat("addr add ", sandbox.ip, "/", prefix_, " dev eth0\n", "link set lo up\n", "link set eth0 up\n",
           "route add default via ", gateway_, "\n")},
  };
  for (const auto& step : steps) {
    absl::Status s = RunCommand(step.argv, nullptr, step.batch);
    if (!s.ok()) {
      Teardown(sandbox);
      return s;
    }
  }
  return sandbox;
}

void PodNetwork::Teardown(const Sandbox& sandbox) {
  // Deleting one end removes the pair at once; deleting only the netns would
  // leave the bridge port until the kernel gets round to it.
  if (!sandbox.host_veth.empty()) {
    RunCommand({"ip", "-n", config_.cluster_netns, "link", "del", sandbox.host_veth}).IgnoreError();
  }
  if (!sandbox.netns.empty()) {
    absl::Status s = RunCommand({"ip", "netns", "del", sandbox.netns});
    if (!s.ok() && std::filesystem::exists(sandbox.netns_path)) {
      log::Warn("cannot delete pod netns", {{"netns", sandbox.netns}, {"error", std::string(s.message())}});
    }
  }
  if (!sandbox.ip.empty()) ipam_->Release(sandbox.ip);
}

uint64_t PodNetwork::ClusterEpoch() const {
  struct stat st {};
  if (::stat(("/run/netns/" + config_.cluster_netns).c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

int PodNetwork::CleanStale() {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kNetnsPrefix, 0) != 0) continue;
    std::string pids;
    if (RunCommand({"ip", "netns", "pids", name}, &pids).ok()) {
      std::istringstream in(pids);
      int pid;
      while (in >> pid) {
        if (pid > 1) ::kill(pid, SIGKILL);
      }
    }
    Sandbox stale;
    stale.netns = name;
    stale.netns_path = entry.path().string();
    stale.host_veth = "zsv" + name.substr(sizeof kNetnsPrefix - 1);
    Teardown(stale);
    ++removed;
  }
  return removed;
}

}  // namespace zs::nodeagent
