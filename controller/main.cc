// zeroscale-controller: parses flags and wires the parts; nothing else.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>

#include "common/flags.h"
#include "common/http/admin_server.h"
#include "common/kube/config.h"
#include "common/kube/curl_client.h"
#include "common/kube/leader_election.h"
#include "common/log.h"
#include "common/strings.h"
#include "controller/events.h"
#include "controller/function_controller.h"
#include "controller/metrics.h"
#include "controller/options.h"

namespace {

std::string DefaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return zs::Cat(host, "_", getpid());
}

// Blocks SIGTERM and SIGINT in every thread started after it, so that
// WaitForSignal() is the only place they are seen.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  zs::controller::Options options;
  zs::FlagSet flags(
      "zeroscale-controller",
      "Reconciles zeroscale.dev Functions into Deployments and Services and scales them with traffic.");
  options.Register(flags);
  auto outcome = flags.Parse(argc, argv);
  if (!outcome.ok()) {
    std::cerr << "zeroscale-controller: " << outcome.status().message() << "\n";
    return 2;
  }
  if (*outcome == zs::FlagSet::Outcome::kHelp) {
    std::cout << flags.Usage();
    return 0;
  }
  zs::log::SetLogger("controller");
  zs::log::Level level;
  if (!zs::log::ParseLevel(options.log_level, &level)) {
    std::cerr << "zeroscale-controller: --log-level: unknown level \"" << options.log_level << "\"\n";
    return 2;
  }
  zs::log::SetLevel(level);
  const sigset_t stop_signals = BlockStopSignals();

  zs::Clock& clock = zs::RealClock::Get();
  auto config = zs::kube::ResolveConfig(options.kubeconfig, clock);
  if (!config.ok()) {
    zs::log::Error("no Kubernetes configuration", {{"error", std::string(config.status().message())}});
    return 1;
  }
  auto client = zs::kube::CurlKubeClient::Create(*config);
  if (!client.ok()) {
    zs::log::Error("cannot create Kubernetes client", {{"error", std::string(client.status().message())}});
    return 1;
  }
  const std::string identity = options.identity.empty() ? DefaultIdentity() : options.identity;

  zs::controller::ControllerMetrics metrics;
  zs::controller::KubeEventRecorder events(**client, clock, "zeroscale-controller");
  zs::controller::FunctionController controller(
      **client, clock, metrics, events, [](const std::string&) { return std::nullopt; },
      {options.watch_namespace, options.activator_url, static_cast<int>(options.max_concurrent_reconciles)});
  controller.StartInformers();

  std::unique_ptr<zs::kube::LeaderElector> elector;
  std::unique_ptr<zs::http::AdminServer> metrics_server;
  if (!zs::http::IsDisabledAddress(options.metrics_bind_address)) {
    auto server = zs::http::AdminServer::Start({options.metrics_bind_address, {metrics.registry()}, {}, {}});
    if (!server.ok()) {
      zs::log::Error("metrics server", {{"error", std::string(server.status().message())}});
      return 1;
    }
    metrics_server = *std::move(server);
  }
  auto probes = zs::http::AdminServer::Start({options.health_probe_bind_address, {}, {}, [&controller]() {
                                                return controller.HasSynced()
                                                           ? absl::OkStatus()
                                                           : absl::UnavailableError("caches not synced");
                                              }});
  if (!probes.ok()) {
    zs::log::Error("health probe server", {{"error", std::string(probes.status().message())}});
    return 1;
  }

  auto start_leading = [&] {
    metrics.SetLeader(true);
    zs::log::Info("started leading", {{"identity", identity}});
    controller.WaitForSync(std::chrono::minutes(5));
    controller.StartWorkers();
  };
  if (options.leader_elect) {
    zs::kube::LeaderElectionConfig le;
    le.lease_namespace = options.leader_election_namespace;
    le.lease_name = options.leader_election_id;
    le.identity = identity;
    le.lease_duration = options.lease_duration;
    le.renew_deadline = options.renew_deadline;
    le.retry_period = options.retry_period;
    le.on_started_leading = start_leading;
    le.on_stopped_leading = [&] {
      // As controller-runtime: a replica that lost its lease exits, and is
      // restarted clean, rather than risk acting beside the new leader.
      metrics.SetLeader(false);
      zs::log::Error("lost leadership; exiting", {{"identity", identity}});
      std::_Exit(1);
    };
    le.on_new_leader = [](const std::string& leader) { zs::log::Info("leader", {{"identity", leader}}); };
    elector = std::make_unique<zs::kube::LeaderElector>(**client, clock, le);
    elector->Start();
  } else {
    start_leading();
  }
  zs::log::Info("controller running", {{"identity", identity},
                                       {"metrics", metrics_server ? metrics_server->address() : "off"},
                                       {"probes", (*probes)->address()}});

  int signal = 0;
  sigwait(&stop_signals, &signal);
  zs::log::Info("stopping", {{"signal", signal}});
  controller.Stop();
  if (elector) elector->Stop();  // releases the lease for a fast handover
  (*probes)->Stop();
  if (metrics_server) metrics_server->Stop();
  return 0;
}
