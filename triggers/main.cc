// zeroscale-triggers: parses flags and wires the parts; nothing else.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <curl/curl.h>

#include "common/flags.h"
#include "common/http/admin_server.h"
#include "common/http/process_metrics.h"
#include "common/kube/config.h"
#include "common/kube/curl_client.h"
#include "common/kube/informer.h"
#include "common/kube/leader_election.h"
#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_format.h"
#include "triggers/brokers/manager.h"
#include "triggers/brokers/sources.h"
#include "triggers/invoker.h"
#include "triggers/metrics.h"
#include "triggers/options.h"
#include "triggers/scaled_clock.h"
#include "triggers/schedule/scheduler.h"

namespace {

std::string DefaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return zs::Cat(host, "_", getpid());
}

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
  zs::triggers::Options options;
  zs::FlagSet flags(
      "zeroscale-triggers",
      "Fires the schedule triggers and consumes the broker triggers of zeroscale.dev Functions, "
      "invoking them through the activator.");
  options.Register(flags);
  if (std::optional<int> exit_code =
          zs::http::StartBinary(flags, argc, argv, "triggers", options.version, options.log_level)) {
    return *exit_code;
  }
  if (options.testing_time_scale <= 0) {
    std::cerr << "zeroscale-triggers: --testing-time-scale must be positive\n";
    return 2;
  }
  const sigset_t stop_signals = BlockStopSignals();
  curl_global_init(CURL_GLOBAL_DEFAULT);

  zs::Clock& clock = zs::RealClock::Get();
  std::unique_ptr<zs::triggers::ScaledClock> scaled;
  if (options.testing_time_scale != 1) {
    std::optional<zs::SystemTime> origin = zs::ParseRfc3339(options.testing_time_origin);
    if (!origin) {
      std::cerr << "zeroscale-triggers: --testing-time-scale needs --testing-time-origin (RFC 3339)\n";
      return 2;
    }
    scaled = std::make_unique<zs::triggers::ScaledClock>(clock, options.testing_time_scale, *origin);
    zs::log::Warn("schedule clock scaled for testing", {{"scale", options.testing_time_scale}});
  }
  zs::Clock& schedule_clock = scaled ? static_cast<zs::Clock&>(*scaled) : clock;

  auto config = zs::kube::ResolveConfig(options.kubeconfig, clock);
  if (!config.ok()) {
    zs::log::Error("no Kubernetes configuration", {{"error", std::string(config.status().message())}});
    return 1;
  }
  const std::string identity = options.identity.empty() ? DefaultIdentity() : options.identity;
  zs::kube::CurlOptions curl_options;
  curl_options.user_agent = zs::Cat("zeroscale-triggers (", identity, ")");
  auto client = zs::kube::CurlKubeClient::Create(*config, curl_options);
  if (!client.ok()) {
    zs::log::Error("cannot create Kubernetes client", {{"error", std::string(client.status().message())}});
    return 1;
  }

  zs::triggers::TriggerMetrics metrics;
  zs::kube::InformerOptions informer_options;
  informer_options.name = "functions";
  zs::kube::Informer functions(**client, clock, zs::kube::kFunctions.In(options.watch_namespace),
                               informer_options);
  functions.Start();
  zs::triggers::CurlInvoker invoker;
  zs::triggers::Scheduler scheduler(**client, schedule_clock, invoker, metrics,
                                    [&functions] { return functions.List(); },
                                    {options.activator_url, identity, "zeroscale-triggers"});

  // Broker triggers run on every replica (the broker shares the messages
  // among them), from the moment the Function cache is synced.
  zs::triggers::BrokerManager::Options broker_options;
  broker_options.activator_url = options.activator_url;
  broker_options.identity = identity;
  broker_options.consumer_defaults.drain = options.drain_timeout;
  broker_options.ack_wait_margin = options.broker_ack_wait_margin;
  broker_options.secret_refresh = options.broker_secret_refresh;
  broker_options.status_every = options.broker_status_interval;
  zs::triggers::BrokerManager brokers(
      **client, clock, invoker, metrics, &zs::triggers::MakeBrokerSource,
      [&functions] { return functions.List(); }, broker_options);
  std::jthread broker_thread([&](const std::stop_token& stop) {
    while (!functions.WaitForSync(std::chrono::milliseconds(100))) {
      if (stop.stop_requested()) return;
    }
    brokers.Run(stop);
  });

  std::unique_ptr<zs::http::AdminServer> metrics_server;
  if (!zs::http::IsDisabledAddress(options.metrics_bind_address)) {
    auto server = zs::http::AdminServer::Start(
        {options.metrics_bind_address,
         {metrics.registry(), zs::http::MakeProcessCollector(zs::http::ThisBuild("triggers"))},
         {},
         {}});
    if (!server.ok()) {
      zs::log::Error("metrics server", {{"error", std::string(server.status().message())}});
      return 1;
    }
    metrics_server = *std::move(server);
  }
  auto probes =
      zs::http::AdminServer::Start({options.health_probe_bind_address, {}, {}, [&functions]() {
                                      return functions.HasSynced()
                                                 ? absl::OkStatus()
                                                 : absl::UnavailableError("Function cache not synced");
                                    }});
  if (!probes.ok()) {
    zs::log::Error("probe server", {{"error", std::string(probes.status().message())}});
    return 1;
  }

  // Leading: wait for the cache, then pass until leadership ends.
  std::atomic<bool> shutting_down{false};
  std::atomic<bool> running{false};
  auto start_leading = [&](const std::stop_token& stop) {
    metrics.SetLeader(true);
    zs::log::Info("started leading", {{"identity", identity}});
    while (!functions.WaitForSync(std::chrono::milliseconds(100))) {
      if (stop.stop_requested()) return;
    }
    running = true;
    scheduler.Run(stop);
  };
  std::unique_ptr<zs::kube::LeaderElector> elector;
  std::jthread unelected;
  if (options.election.leader_elect) {
    zs::kube::LeaderElectionConfig le = options.election.Config(identity);
    le.on_started_leading = start_leading;
    le.on_stopped_leading = [&] {
      if (shutting_down) {
        // SIGTERM: the scheduler has stopped (its stop_token); record what
        // is in flight, then the elector releases the Lease.
        if (running) scheduler.Drain(options.drain_timeout);
        metrics.SetLeader(false);
        return;
      }
      // A replica that lost its Lease exits at once rather than fire beside
      // the new leader (claims are conditional anyway; this keeps the
      // invocations it started from being recorded twice).
      zs::log::Error("lost leadership; exiting", {{"identity", identity}});
      std::_Exit(1);
    };
    le.on_new_leader = [](const std::string& leader) { zs::log::Info("leader", {{"identity", leader}}); };
    if (absl::Status valid = zs::kube::ValidateLeaderElectionConfig(le); !valid.ok()) {
      std::cerr << "zeroscale-triggers: " << valid.message() << "\n";
      return 2;
    }
    elector = std::make_unique<zs::kube::LeaderElector>(**client, clock, le);
    elector->Start();
  } else {
    unelected = std::jthread(start_leading);
  }
  zs::log::Info("triggers running", {{"identity", identity},
                                     {"activator", options.activator_url},
                                     {"metrics", metrics_server ? metrics_server->address() : "off"},
                                     {"probes", (*probes)->address()}});

  int signal = 0;
  sigwait(&stop_signals, &signal);
  zs::log::Info("stopping", {{"signal", signal}});
  shutting_down = true;
  // Broker consumers drain beside the schedule leader's drain.
  broker_thread.request_stop();
  if (elector) {
    elector->Stop();
    elector->Join();
  } else {
    unelected.request_stop();
    unelected.join();
    if (running) scheduler.Drain(options.drain_timeout);
  }
  // Consumers drain (up to --drain-timeout) and record what they did.
  broker_thread.join();
  functions.Stop();
  (*probes)->Stop();
  if (metrics_server) metrics_server->Stop();
  zs::log::Info("stopped", {{"identity", identity}});
  return 0;
}
