// zeroscale-controller: parses flags and wires the parts; nothing else.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <stop_token>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include "common/flags.h"
#include "common/http/admin_server.h"
#include "common/http/process_metrics.h"
#include "common/kube/config.h"
#include "common/kube/curl_client.h"
#include "common/kube/leader_election.h"
#include "common/log.h"
#include "common/strings.h"
#include "controller/autoscaler/authenticator.h"
#include "controller/autoscaler/service.h"
#include "controller/autoscaler/stats_aggregator.h"
#include "controller/events.h"
#include "controller/function_controller.h"
#include "controller/metrics.h"
#include "controller/options.h"
#include "controller/scaling/autoscaler_loop.h"

#include <grpcpp/grpcpp.h>

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

// ":9090" -> "0.0.0.0:9090" (gRPC wants a host).
std::string GrpcListenAddress(const std::string& bind) {
  return !bind.empty() && bind[0] == ':' ? "0.0.0.0" + bind : bind;
}

std::string AdvertiseAddress(const std::string& flag, const std::string& bind) {
  if (!flag.empty()) return flag;
  const char* pod_ip = std::getenv("POD_IP");
  const std::string port = bind.substr(bind.rfind(':') + 1);
  return zs::Cat(pod_ip != nullptr && *pod_ip != 0 ? pod_ip : "127.0.0.1", ":", port);
}

}  // namespace

int main(int argc, char** argv) {
  zs::controller::Options options;
  zs::FlagSet flags(
      "zeroscale-controller",
      "Reconciles zeroscale.dev Functions into Deployments and Services and scales them with traffic.");
  options.Register(flags);
  if (std::optional<int> exit_code =
          zs::http::StartBinary(flags, argc, argv, "controller", options.version, options.log_level)) {
    return *exit_code;
  }
  const sigset_t stop_signals = BlockStopSignals();

  zs::Clock& clock = zs::RealClock::Get();
  auto config = zs::kube::ResolveConfig(options.kubeconfig, clock);
  if (!config.ok()) {
    zs::log::Error("no Kubernetes configuration", {{"error", std::string(config.status().message())}});
    return 1;
  }
  const std::string advertise = AdvertiseAddress(options.grpc_advertise_address, options.grpc_bind_address);
  const std::string identity =
      zs::Cat(options.identity.empty() ? DefaultIdentity() : options.identity, "@", advertise);
  // The identity in the User-Agent tells replicas apart in the apiserver's
  // audit log (they share one ServiceAccount).
  zs::kube::CurlOptions curl_options;
  curl_options.user_agent = zs::Cat("zeroscale-controller (", identity, ")");
  auto client = zs::kube::CurlKubeClient::Create(*config, curl_options);
  if (!client.ok()) {
    zs::log::Error("cannot create Kubernetes client", {{"error", std::string(client.status().message())}});
    return 1;
  }

  zs::controller::ControllerMetrics metrics;
  // Asked before each Event is written (set once the elector exists).
  std::function<bool()> may_write = [] { return true; };
  zs::controller::KubeEventRecorder::Options event_options;
  event_options.count = [&metrics](const std::string& result) { metrics.CountEvent(result); };
  event_options.may_post = [&may_write] { return may_write(); };
  zs::controller::KubeEventRecorder events(**client, clock, "zeroscale-controller", event_options);
  zs::controller::AutoscalerLoop* autoscaler_ptr = nullptr;
  zs::controller::FunctionController controller(
      **client, clock, metrics, events,
      [&autoscaler_ptr](const std::string& key) -> std::optional<zs::controller::ScalingStatus> {
        return autoscaler_ptr != nullptr ? autoscaler_ptr->StatusOf(key) : std::nullopt;
      },
      {.watch_namespace = options.watch_namespace,
       .activator_url = options.activator_url,
       .workers = static_cast<int>(options.max_concurrent_reconciles),
       .sync_period = options.sync_period,
       .backoff = {.initial = options.child_retry_initial, .max = options.child_retry_max}});
  // Load and wake-ups of names that are no Function (deleted, never
  // created) leave no state behind.
  zs::autoscaler::StatsAggregator::Options stats_options;
  stats_options.known = [&controller](const zs::autoscaler::FunctionKey& key) {
    return controller.functions().Contains(key.String());
  };
  zs::autoscaler::StatsAggregator stats(clock, stats_options);
  zs::controller::AutoscalerLoop::Options loop_options;
  loop_options.tick = options.autoscaler_tick;
  zs::controller::AutoscalerLoop autoscaler(
      **client, clock, stats,
      [&controller](const std::string& key) { return controller.functions().Find(key); },
      [&controller](const std::string& key) { return controller.deployments().Find(key); },
      [&controller] { return controller.functions().Snapshot(); }, events, metrics,
      [&controller](const std::string& key) { controller.Enqueue(key); }, loop_options);
  autoscaler_ptr = &autoscaler;
  // Per-Function autoscaler state lives and dies with the Function.
  controller.functions().AddHandlers({nullptr, nullptr, [&autoscaler](const nlohmann::json& o) {
                                        autoscaler.Forget(zs::kube::Informer::KeyOf(o));
                                      }});
  controller.StartInformers();

  std::unique_ptr<zs::kube::LeaderElector> elector;
  std::unique_ptr<zs::http::AdminServer> metrics_server;
  if (!zs::http::IsDisabledAddress(options.metrics_bind_address)) {
    auto server = zs::http::AdminServer::Start(
        {options.metrics_bind_address,
         {metrics.registry(), zs::http::MakeProcessCollector(zs::http::ThisBuild("controller"))},
         {},
         {}});
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

  std::atomic<bool> leading{false};
  // The activators prove who they are with their ServiceAccount token.
  std::unique_ptr<zs::kube::KubeClient> review_client = (*client)->WithTimeout(std::chrono::seconds(5));
  std::unique_ptr<zs::autoscaler::TokenReviewAuthenticator> authenticator;
  zs::autoscaler::AutoscalerService::Authenticate authenticate;
  if (!options.grpc_allowed_identities.empty()) {
    zs::autoscaler::TokenReviewAuthenticator::Options auth_options;
    for (absl::string_view identity :
         absl::StrSplit(options.grpc_allowed_identities, ',', absl::SkipWhitespace())) {
      auth_options.allowed.insert(std::string(absl::StripAsciiWhitespace(identity)));
    }
    authenticator = std::make_unique<zs::autoscaler::TokenReviewAuthenticator>(*review_client, clock,
                                                                               std::move(auth_options));
    authenticate = [&authenticator](const grpc::ServerContext& context) {
      return authenticator->Check(context);
    };
  } else {
    zs::log::Warn("gRPC calls are not authenticated: set --grpc-allowed-identities");
  }
  // Which activator serves each capped Function (docs/invocation.md).
  zs::autoscaler::PlacementBoard placement({}, clock);
  zs::autoscaler::AutoscalerService service(
      // The elector's view is read from the clock: it ends at the renew
      // deadline even before on_stopped_leading has run.
      stats, autoscaler, [&leading, &elector] { return leading.load() && (!elector || elector->IsLeader()); },
      {[&metrics] { metrics.CountStatsReport(); },
       [&metrics](const std::string& result) { metrics.CountWake(result); },
       [&metrics] { metrics.CountRejectedStatsReport(); },
       [&metrics](const std::string& reason) { metrics.CountRefusedGrpcCall(reason); }},
      authenticate, &placement);
  // The same view gates Events, which are written from their own thread.
  // (The elector's clock-read view: false from the renew deadline on.)
  may_write = [&elector] { return !elector || elector->IsLeader(); };
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(GrpcListenAddress(options.grpc_bind_address), grpc::InsecureServerCredentials(),
                           &grpc_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server || grpc_port == 0) {
    zs::log::Error("cannot start the gRPC server", {{"address", options.grpc_bind_address}});
    return 1;
  }

  // Leading starts on the elector's worker thread (never its renewing one):
  // wait for the caches, then start the writers. `stop` is requested when
  // leadership ends before that is done.
  std::atomic<bool> shutting_down{false};
  auto start_leading = [&](const std::stop_token& stop) {
    metrics.SetLeader(true);
    zs::log::Info("started leading", {{"identity", identity}});
    while (!controller.WaitForSync(std::chrono::milliseconds(100))) {
      if (stop.stop_requested()) return;
    }
    if (stop.stop_requested()) return;
    controller.StartWorkers();
    autoscaler.Start();
    leading = true;
  };
  // Stops every writer: no reconcile, scale, status or Event after it returns.
  auto stop_acting = [&] {
    leading = false;
    autoscaler.Stop();
    controller.StopWorkers();
    events.Discard();
    metrics.SetLeader(false);
  };
  if (options.election.leader_elect) {
    zs::kube::LeaderElectionConfig le = options.election.Config(identity);
    le.on_started_leading = start_leading;
    le.on_stopped_leading = [&] {
      if (shutting_down) {
        // SIGTERM: stop writing, then the elector releases the Lease.
        stop_acting();
        return;
      }
      // As controller-runtime: a replica that lost its lease exits at once,
      // and is restarted clean, rather than risk acting beside the new leader.
      zs::log::Error("lost leadership; exiting", {{"identity", identity}});
      std::_Exit(1);
    };
    le.on_new_leader = [](const std::string& leader) { zs::log::Info("leader", {{"identity", leader}}); };
    if (absl::Status valid = zs::kube::ValidateLeaderElectionConfig(le); !valid.ok()) {
      std::cerr << "zeroscale-controller: " << valid.message() << "\n";
      return 2;
    }
    elector = std::make_unique<zs::kube::LeaderElector>(**client, clock, le);
    elector->Start();
  } else {
    start_leading(std::stop_token());
  }
  zs::log::Info("controller running", {{"identity", identity},
                                       {"metrics", metrics_server ? metrics_server->address() : "off"},
                                       {"probes", (*probes)->address()},
                                       {"grpc", zs::Cat(GrpcListenAddress(options.grpc_bind_address))},
                                       {"advertise", advertise}});

  int signal = 0;
  sigwait(&stop_signals, &signal);
  zs::log::Info("stopping", {{"signal", signal}});
  shutting_down = true;
  if (elector) {
    // Stops the writers (on_stopped_leading) and then releases the Lease, so
    // that a standby takes over at its next attempt.
    elector->Stop();
    elector->Join();
  } else {
    stop_acting();
  }
  grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  autoscaler.Stop();
  controller.Stop();
  (*probes)->Stop();
  if (metrics_server) metrics_server->Stop();
  zs::log::Info("stopped", {{"identity", identity}});
  return 0;
}
