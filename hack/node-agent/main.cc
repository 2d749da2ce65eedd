// zs-node-agent: parses flags and wires the node agent; nothing else.
#include <signal.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "common/clock.h"
#include "common/flags.h"
#include "common/kube/config.h"
#include "common/kube/curl_client.h"
#include "common/log.h"
#include "hack/node-agent/agent.h"

int main(int argc, char** argv) {
  std::string kubeconfig;
  std::string node_name = "zs-node";
  std::string cluster_netns = "zs-cluster";
  std::string bridge = "zs-br0";
  std::string pod_cidr = "10.88.1.0/24";
  std::string apiserver_host;
  std::string apiserver_port = "6443";
  std::string root_dir = "/var/lib/zs-node-agent";
  std::string images_path;
  std::string log_level = "info";
  bool mount_service_account = true;
  int64_t workers = 2;
  int64_t warm_sandboxes = 1;
  std::chrono::milliseconds fast_probe{20};
  std::chrono::milliseconds restart_backoff{1000};
  std::chrono::milliseconds max_restart_backoff{60000};
  std::chrono::milliseconds lease_renew{10000};

  zs::FlagSet flags(
      "zs-node-agent",
      "Runs the pods of one node of the local cluster as processes in their own network "
      "namespaces, and binds unscheduled pods to it (see hack/node-agent/README.md). Needs root.");
  flags.String("kubeconfig", &kubeconfig,
               "Kubeconfig with rights to bind pods (the admin one). Empty: $KUBECONFIG.");
  flags.String("node-name", &node_name, "Name of the Node to register.");
  flags.String("cluster-netns", &cluster_netns, "Network namespace of the cluster (holds the bridge).");
  flags.String("bridge", &bridge,
               "Bridge in the cluster netns that pods attach to; its address is their gateway.");
  flags.String("pod-cidr", &pod_cidr, "Pod addresses are allocated from this CIDR.");
  flags.String("apiserver-host", &apiserver_host,
               "KUBERNETES_SERVICE_HOST given to pods; empty: the bridge's address.");
  flags.String("apiserver-port", &apiserver_port, "KUBERNETES_SERVICE_PORT given to pods.");
  flags.String("root-dir", &root_dir, "Per-pod folders (service-account tokens, container logs).");
  flags.String("images", &images_path,
               "YAML/JSON image map: images: {\"repo/name:tag\": /path/to/executable}.");
  flags.Bool(
      "mount-service-account", &mount_service_account,
      "Bind-mount each pod's token folder at /var/run/secrets/kubernetes.io/serviceaccount in a private "
      "mount namespace (ZS_SERVICEACCOUNT_DIR is set either way).");
  flags.Int("workers", &workers, "Pod sync workers.");
  flags.Int("warm-sandboxes", &warm_sandboxes,
            "Pod sandboxes (netns, veth, address) kept made ahead, so a pod's start does not wait for "
            "them; 0 makes each when its pod comes, as a kubelet does.");
  flags.Duration("fast-probe-interval", &fast_probe, "Readiness probe interval until the first success.");
  flags.Duration("restart-backoff", &restart_backoff, "First delay before restarting an exited container.");
  flags.Duration("max-restart-backoff", &max_restart_backoff, "Cap of the doubling restart delay.");
  flags.Duration("lease-renew-interval", &lease_renew, "How often the node Lease is renewed.");
  flags.String("log-level", &log_level, "debug, info, warn or error.");
  auto outcome = flags.Parse(argc, argv);
  if (!outcome.ok()) {
    std::cerr << "zs-node-agent: " << outcome.status().message() << "\n";
    return 2;
  }
  if (*outcome == zs::FlagSet::Outcome::kHelp) {
    std::cout << flags.Usage();
    return 0;
  }
  zs::log::SetLogger("node-agent");
  zs::log::Level level;
  if (!zs::log::ParseLevel(log_level, &level)) {
    std::cerr << "zs-node-agent: bad --log-level " << log_level << "\n";
    return 2;
  }
  zs::log::SetLevel(level);

  // Signals are taken by sigwait below; every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  zs::Clock& clock = zs::RealClock::Get();
  auto config = zs::kube::ResolveConfig(kubeconfig, clock);
  if (!config.ok()) {
    zs::log::Error("no kubeconfig", {{"error", std::string(config.status().message())}});
    return 1;
  }
  auto client = zs::kube::CurlKubeClient::Create(*config);
  if (!client.ok()) {
    zs::log::Error("cannot create client", {{"error", std::string(client.status().message())}});
    return 1;
  }
  zs::nodeagent::ImageMap images;
  if (!images_path.empty()) {
    auto loaded = zs::nodeagent::ImageMap::Load(images_path);
    if (!loaded.ok()) {
      zs::log::Error("cannot load image map", {{"error", std::string(loaded.status().message())}});
      return 1;
    }
    images = std::move(*loaded);
  }
  auto network = zs::nodeagent::PodNetwork::Create(
      {cluster_netns, bridge, pod_cidr, static_cast<int>(std::max<int64_t>(0, warm_sandboxes))});
  if (!network.ok()) {
    zs::log::Error("cannot set up pod networking", {{"error", std::string(network.status().message())}});
    return 1;
  }

  zs::nodeagent::AgentOptions options;
  options.node_name = node_name;
  options.apiserver_host = apiserver_host;
  options.apiserver_port = apiserver_port;
  options.root_dir = root_dir;
  options.mount_service_account = mount_service_account;
  options.workers = static_cast<int>(workers);
  options.fast_probe_interval = fast_probe;
  options.restart_backoff = restart_backoff;
  options.max_restart_backoff = max_restart_backoff;
  options.lease_renew_period = lease_renew;
  options.cluster_ca_pem = config->ca_pem;
  if (options.cluster_ca_pem.empty() && !config->ca_file.empty()) {
    std::ifstream in(config->ca_file);
    std::ostringstream text;
    text << in.rdbuf();
    options.cluster_ca_pem = text.str();
  }

  zs::nodeagent::Agent agent(**client, clock, options, std::move(images), std::move(*network));
  if (auto started = agent.Start(); !started.ok()) {
    zs::log::Error("cannot start", {{"error", std::string(started.message())}});
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  zs::log::Info("stopping", {{"signal", sig}});
  agent.Stop();
  return 0;
}
