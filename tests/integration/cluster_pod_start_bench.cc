// Measures cold start on the local cluster: the time from scaling a fn-echo
// Deployment from 0 to 1 until its pod is a ready address in the Service's
// EndpointSlice, with the stages in between (pod created, bound, process
// running, pod Ready). Run by bench/pod-start.sh; needs the cluster and the
// node agent.
//
//   cluster_pod_start_bench [--iterations 10] [--kubectl /path/to/kubectl]
//
// --kubectl scales with `kubectl scale --replicas=1` (the clock starts before
// kubectl is launched, so its start-up is included); otherwise the bench
// PATCHes deployments/scale itself.
#include <algorithm>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>

#include "common/clock.h"
#include "common/flags.h"
#include "common/kube/informer.h"
#include "common/log.h"
#include "common/strings.h"
#include "tests/integration/cluster_testing.h"

namespace {

using nlohmann::json;
using zs::kube::Informer;

struct Sample {
  double rs_scaled_ms = -1;  // the deployment controller set the ReplicaSet's replicas
  double created_ms = -1;
  double bound_ms = -1;
  double running_ms = -1;
  double pod_ready_ms = -1;
  double endpoint_ms = -1;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return -1;
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string Stats(const std::vector<Sample>& samples, double Sample::*field) {
  std::vector<double> v;
  for (const auto& s : samples) {
    if (s.*field >= 0) v.push_back(s.*field);
  }
  if (v.empty()) return "n/a";
  std::sort(v.begin(), v.end());
  char text[128];
  std::snprintf(text, sizeof text, "median %7.1f  min %7.1f  max %7.1f", Median(v), v.front(), v.back());
  return text;
}

bool PodReady(const json& pod) {
  for (const auto& c : pod.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

bool PodRunning(const json& pod) {
  for (const auto& c : pod.value("status", json::object()).value("containerStatuses", json::array())) {
    if (c.value("state", json::object()).contains("running")) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t iterations = 10;
  std::string kubectl;
  zs::FlagSet flags("cluster_pod_start_bench",
                    "Cold start of a fn-echo pod on the local cluster (see bench/).");
  flags.Int("iterations", &iterations, "Scale-ups from 0 to 1 to measure.");
  flags.String("kubectl", &kubectl, "Scale with this kubectl (start-up included) instead of a direct PATCH.");
  auto outcome = flags.Parse(argc, argv);
  if (!outcome.ok() || *outcome == zs::FlagSet::Outcome::kHelp) {
    std::cerr << (outcome.ok() ? flags.Usage() : std::string(outcome.status().message())) << "\n";
    return outcome.ok() ? 0 : 2;
  }
  zs::log::SetLevel(zs::log::Level::kWarn);
  auto client = zs::testing::ClusterClient();
  if (!client) return 1;
  zs::Clock& clock = zs::RealClock::Get();
  zs::testing::ClusterNamespace ns(*client, "zs-bench-podstart");
  const std::string name = "echo";

  json deployment = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "echo"},
    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "echo"}},
      "template": {"metadata": {"labels": {"app": "echo"}},
        "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
          "name": "fn", "image": "zeroscale/fn-echo:dev",
          "ports": [{"name": "http", "containerPort": 8080}],
          "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10}}]}}}})");
  deployment["metadata"]["namespace"] = ns.name();
  json service = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", {{"name", name}, {"namespace", ns.name()}}},
      {"spec", {{"selector", {{"app", name}}}, {"ports", {{{"port", 80}, {"targetPort", "http"}}}}}}};
  if (auto s = client->Create(zs::kube::kServices.In(ns.name()), service); !s.ok()) {
    std::cerr << "service: " << s.status() << "\n";
    return 1;
  }
  if (auto s = client->Create(zs::kube::kDeployments.In(ns.name()), deployment); !s.ok()) {
    std::cerr << "deployment: " << s.status() << "\n";
    return 1;
  }

  // Stage timestamps, filled by informer handlers.
  std::mutex mu;
  std::condition_variable changed;
  zs::MonotonicTime t0{};
  Sample current;
  bool measuring = false;
  auto since = [&](zs::MonotonicTime now) { return zs::ToMillis(now - t0); };
  size_t ready_addresses = 0;
  size_t pods = 0;

  // The three informers differ only in what they select.
  auto watching = [](std::string label_selector, std::string informer) {
    return zs::kube::InformerOptions{.label_selector = std::move(label_selector),
                                     .field_selector = "",
                                     .page_size = 500,
                                     .watch_timeout_seconds = 300,
                                     .backoff = {},
                                     .relist_after_failures = 3,
                                     .name = std::move(informer)};
  };
  Informer slices(*client, clock, zs::kube::kEndpointSlices.In(ns.name()),
                  watching("kubernetes.io/service-name=" + name, "slices"));
  auto on_slice = [&](const json&) {
    size_t ready = 0;
    for (const auto& slice : slices.List()) {
      for (const auto& e : slice.value("endpoints", json::array())) {
        if (e.value("conditions", json::object()).value("ready", false)) ++ready;
      }
    }
    std::lock_guard lock(mu);
    ready_addresses = ready;
    if (measuring && ready > 0 && current.endpoint_ms < 0) current.endpoint_ms = since(clock.Now());
    changed.notify_all();
  };
  slices.AddHandlers({on_slice, [&](const json&, const json& o) { on_slice(o); }, on_slice});

  // Splits "pod created" between kube-controller-manager's two controllers:
  // the deployment controller scales the ReplicaSet, whose controller then
  // makes the pod.
  Informer replica_sets(*client, clock, zs::kube::kReplicaSets.In(ns.name()),
                        watching("app=" + name, "replicasets"));
  auto on_replica_set = [&](const json& rs) {
    const zs::MonotonicTime now = clock.Now();
    std::lock_guard lock(mu);
    if (measuring && current.rs_scaled_ms < 0 && rs.value("spec", json::object()).value("replicas", 0) > 0) {
      current.rs_scaled_ms = since(now);
    }
  };
  replica_sets.AddHandlers(
      {on_replica_set, [&](const json&, const json& o) { on_replica_set(o); }, [](const json&) {}});

  Informer pod_informer(*client, clock, zs::kube::kPods.In(ns.name()), watching("app=" + name, "pods"));
  auto on_pod = [&](const json& pod) {
    const zs::MonotonicTime now = clock.Now();
    std::lock_guard lock(mu);
    pods = pod_informer.List().size();
    if (measuring) {
      if (current.created_ms < 0) current.created_ms = since(now);
      if (current.bound_ms < 0 && !pod["spec"].value("nodeName", "").empty()) current.bound_ms = since(now);
      if (current.running_ms < 0 && PodRunning(pod)) current.running_ms = since(now);
      if (current.pod_ready_ms < 0 && PodReady(pod)) current.pod_ready_ms = since(now);
    }
    changed.notify_all();
  };
  pod_informer.AddHandlers({on_pod, [&](const json&, const json& o) { on_pod(o); },
                            [&](const json&) {
                              std::lock_guard lock(mu);
                              pods = pod_informer.List().size();
                              changed.notify_all();
                            }});
  slices.Start();
  replica_sets.Start();
  pod_informer.Start();
  if (!slices.WaitForSync(std::chrono::seconds(30)) || !replica_sets.WaitForSync(std::chrono::seconds(30)) ||
      !pod_informer.WaitForSync(std::chrono::seconds(30))) {
    std::cerr << "informers did not sync\n";
    return 1;
  }

  std::vector<Sample> samples;
  for (int64_t i = 0; i < iterations; ++i) {
    {
      std::lock_guard lock(mu);
      current = Sample{};
      measuring = true;
      t0 = clock.Now();
    }
    if (!kubectl.empty()) {
      std::string command = zs::Cat(kubectl, " --kubeconfig ", zs::testing::ClusterKubeconfig(), " -n ",
                                    ns.name(), " scale deployment/", name, " --replicas=1 >/dev/null");
      if (std::system(command.c_str()) != 0) {
        std::cerr << "kubectl scale failed\n";
        return 1;
      }
    } else if (auto s = client->PatchScale(zs::kube::DeploymentRef(ns.name(), name), 1); !s.ok()) {
      std::cerr << "scale: " << s.status() << "\n";
      return 1;
    }
    {
      std::unique_lock lock(mu);
      if (!changed.wait_for(lock, std::chrono::seconds(60), [&] { return current.endpoint_ms >= 0; })) {
        std::cerr << "iteration " << i << ": no ready endpoint within 60 s\n";
        return 1;
      }
      measuring = false;
      samples.push_back(current);
      std::printf("run %2" PRId64
                  ": endpoint ready %7.1f ms (ReplicaSet scaled %6.1f, pod created %6.1f, bound %6.1f, "
                  "running %6.1f, "
                  "ready %6.1f)\n",
                  i + 1, current.endpoint_ms, current.rs_scaled_ms, current.created_ms, current.bound_ms,
                  current.running_ms, current.pod_ready_ms);
      std::fflush(stdout);
    }
    if (auto s = client->PatchScale(zs::kube::DeploymentRef(ns.name(), name), 0); !s.ok()) {
      std::cerr << "scale down: " << s.status() << "\n";
      return 1;
    }
    std::unique_lock lock(mu);
    if (!changed.wait_for(lock, std::chrono::seconds(60),
                          [&] { return pods == 0 && ready_addresses == 0; })) {
      std::cerr << "iteration " << i << ": pod not gone within 60 s\n";
      return 1;
    }
  }
  slices.Stop();
  replica_sets.Stop();
  pod_informer.Stop();
  std::printf("\n%s, %zu runs (ms from the scale request):\n",
              kubectl.empty() ? "PATCH deployments/scale" : "kubectl scale", samples.size());
  std::printf("  ReplicaSet scaled    %s\n", Stats(samples, &Sample::rs_scaled_ms).c_str());
  std::printf("  pod created          %s\n", Stats(samples, &Sample::created_ms).c_str());
  std::printf("  pod bound            %s\n", Stats(samples, &Sample::bound_ms).c_str());
  std::printf("  container running    %s\n", Stats(samples, &Sample::running_ms).c_str());
  std::printf("  pod Ready            %s\n", Stats(samples, &Sample::pod_ready_ms).c_str());
  std::printf("  EndpointSlice ready  %s\n", Stats(samples, &Sample::endpoint_ms).c_str());
  return 0;
}
