// zeroscale-activator: parses flags and wires the parts; nothing else.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <prometheus/registry.h>

#include "activator/admission/buffer.h"
#include "activator/admission/catalog.h"
#include "activator/admission/endpoints.h"
#include "activator/admission/waker.h"
#include "activator/cpu_quota.h"
#include "activator/metering/billing.h"
#include "activator/metering/load_tracker.h"
#include "activator/metering/meter.h"
#include "activator/metering/metrics.h"
#include "activator/options.h"
#include "activator/proxy.h"
#include "activator/sources/kube_sources.h"
#include "activator/sources/static_config.h"
#include "activator/sources/stats_client.h"
#include "common/api/quantity.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/http/admin_server.h"
#include "common/http/process_metrics.h"
#include "common/kube/config.h"
#include "common/kube/curl_client.h"
#include "common/log.h"
#include "common/strings.h"

namespace {

int Fail(const std::string& message) {
  zs::log::Error(message);
  return 1;
}

std::string Hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "activator";
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace zs;
  using namespace zs::activator;

  Options options;
  FlagSet flags("zeroscale-activator",
                "Routes, buffers, balances, times out and meters invocations of zeroscale Functions.");
  options.Register(flags);
  if (std::optional<int> exit_code =
          http::StartBinary(flags, argc, argv, "activator", options.version, options.log_level)) {
    return *exit_code;
  }

  // Signals go to sigwait below, not to whichever thread happens to run.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  RealClock& clock = RealClock::Get();
  const std::string activator_id = options.activator_id.empty() ? Hostname() : options.activator_id;
  const auto default_memory = api::ParseQuantity(options.default_memory);
  if (!default_memory || *default_memory <= 0) return Fail("bad --default-memory " + options.default_memory);

  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  LoadTracker load(clock, activator_id);
  // Who serves capped Functions among the activators (placement.h).
  Placement placement(activator_id);
  std::string relay_address = options.relay_address;
  if (relay_address.empty()) {
    const char* pod_ip = std::getenv("POD_IP");
    auto bind = http::ParseBindAddress(options.bind_address);
    if (pod_ip != nullptr && *pod_ip != '\0' && bind.ok() && bind->port != 0) {
      const std::string ip = pod_ip;
      relay_address =
          ip.find(':') != std::string::npos ? Cat("[", ip, "]:", bind->port) : Cat(ip, ":", bind->port);
    }
  }

  std::unique_ptr<BillingSink> billing = std::make_unique<NullBillingSink>();
  BillingLog* billing_log = nullptr;
  if (!options.billing_log.empty()) {
    if (options.billing_max_pending_bytes < 4096) return Fail("--billing-max-pending-bytes below 4096");
    BillingLog::Options billing_options;
    billing_options.target = options.billing_log;
    billing_options.max_pending_bytes = static_cast<size_t>(options.billing_max_pending_bytes);
    auto opened = BillingLog::Open(billing_options, metrics);
    if (!opened.ok()) return Fail(std::string(opened.status().message()));
    billing_log = opened->get();
    billing = std::move(*opened);
  }

  InMemoryCatalog catalog;
  InMemoryEndpointStore endpoints;
  // Before the catalog is fed: per-Function metrics and load live and die
  // with the catalog's Functions.
  Meter meter(metrics, load, *billing, *default_memory);
  meter.Follow(catalog);
  if (!options.static_config.empty()) {
    auto functions = LoadStaticConfig(options.static_config);
    if (!functions.ok()) return Fail(std::string(functions.status().message()));
    ApplyStaticConfig(*functions, catalog, endpoints);
    log::Info("static config loaded", {{"functions", functions->size()}, {"file", options.static_config}});
  }
  // Without a static config, Functions and their ready endpoints come from
  // the apiserver, and the controller's address (unless given) from its Lease.
  std::unique_ptr<kube::CurlKubeClient> kube_client;
  std::unique_ptr<KubeSources> kube_sources;
  if (options.static_config.empty()) {
    auto config = kube::ResolveConfig(options.kubeconfig, clock);
    if (!config.ok()) return Fail("no Kubernetes configuration: " + std::string(config.status().message()));
    auto client = kube::CurlKubeClient::Create(*config);
    if (!client.ok()) return Fail("Kubernetes client: " + std::string(client.status().message()));
    kube_client = *std::move(client);
    KubeSources::Options source_options;
    source_options.watch_namespace = options.watch_namespace;
    source_options.probe_interval = options.probe_interval;
    kube_sources = std::make_unique<KubeSources>(*kube_client, clock, catalog, endpoints, source_options);
    kube_sources->Start();
  }

  std::unique_ptr<StatsClient> stats;
  NoopWaker noop_waker;
  Waker* waker = &noop_waker;
  // The controller is found through its leader Lease unless its address is
  // given; the Lease is read again whenever the stream breaks, so reports and
  // wake-ups follow a failover.
  std::unique_ptr<LeaderLookup> leader;
  if (options.controller_address.empty() && kube_client) {
    leader = std::make_unique<LeaderLookup>(*kube_client, options.leader_election_namespace,
                                            options.leader_election_id);
  }
  if (!options.controller_address.empty() || leader) {
    StatsClient::Options stats_options;
    stats_options.controller_address = options.controller_address;
    if (leader) stats_options.resolve = [&leader] { return leader->Resolve(); };
    stats_options.activator_id = activator_id;
    stats_options.relay_address = relay_address;
    stats_options.placement = &placement;
    stats_options.on_placement = [&metrics](const Placement::View& view) {
      metrics.placement_activators().Set(static_cast<double>(view.ids.size()));
    };
    stats_options.interval = options.stats_interval;
    // The controller admits calls by the identity of this token (TokenReview).
    std::string token_path = options.controller_token_file;
    if (token_path.empty()) {
      const char* dir = std::getenv("ZS_SERVICEACCOUNT_DIR");
      token_path = Cat(dir != nullptr && *dir != '\0' ? dir : kube::kServiceAccountDir, "/token");
      if (!std::filesystem::exists(token_path)) token_path.clear();
    }
    if (!token_path.empty()) {
      auto token = std::make_shared<kube::TokenFile>(token_path, clock);
      stats_options.bearer_token = [token]() -> std::string {
        absl::StatusOr<std::string> value = token->Token();
        return value.ok() ? *value : std::string();
      };
    } else {
      log::Info("no token for the controller's gRPC service: calls are sent unauthenticated");
    }
    stats = std::make_unique<StatsClient>(stats_options, load, clock);
    waker = stats.get();
  } else {
    log::Warn(
        "static config without --controller-address: load is not reported and cold Functions are not woken");
  }

  RequestBuffer::Options buffer_options;
  buffer_options.max_total = options.max_buffered_requests;
  buffer_options.catalog = &catalog;
  buffer_options.placement = &placement;
  RequestBuffer buffer(buffer_options, clock, endpoints, *waker, &meter);

  ProxyOptions proxy_options;
  proxy_options.bind_address = options.bind_address;
  const std::optional<double> cpu_quota = CpuQuota("/");
  proxy_options.threads = options.threads > 0 ? static_cast<int>(options.threads)
                                              : ThreadsForCpuQuota(cpu_quota, AvailableCpus());
  proxy_options.limits.max_header_bytes = static_cast<uint32_t>(options.max_header_bytes);
  proxy_options.limits.max_body_bytes = static_cast<uint64_t>(options.max_body_bytes);
  proxy_options.header_read_timeout = options.header_read_timeout;
  proxy_options.idle_timeout = options.idle_timeout;
  proxy_options.domain = options.domain;
  proxy_options.forward.connect_timeout = options.connect_timeout;
  proxy_options.forward.client_body_timeout = options.client_body_timeout;
  proxy_options.upstream_idle_timeout = options.upstream_idle_timeout;
  auto proxy = Proxy::Start(proxy_options, ProxyDeps{catalog, buffer, meter, clock, &placement});
  if (!proxy.ok()) return Fail(std::string(proxy.status().message()));

  std::atomic<bool> draining{false};
  std::vector<std::unique_ptr<http::AdminServer>> admin;
  auto start_admin = [&](const std::string& address, bool with_metrics) -> bool {
    if (http::IsDisabledAddress(address)) return true;
    http::AdminServer::Options admin_options;
    admin_options.bind_address = address;
    if (with_metrics)
      admin_options.collectables = {registry, http::MakeProcessCollector(http::ThisBuild("activator"))};
    admin_options.ready = [&draining, &kube_sources]() -> absl::Status {
      if (kube_sources && !kube_sources->HasSynced()) return absl::UnavailableError("caches not synced");
      return draining.load() ? absl::UnavailableError("draining") : absl::OkStatus();
    };
    auto server = http::AdminServer::Start(admin_options);
    if (!server.ok()) {
      log::Error("admin server", {{"address", address}, {"error", std::string(server.status().message())}});
      return false;
    }
    admin.push_back(std::move(*server));
    return true;
  };
  if (options.metrics_bind_address == options.health_probe_bind_address) {
    if (!start_admin(options.metrics_bind_address, true)) return 1;
  } else if (!start_admin(options.metrics_bind_address, true) ||
             !start_admin(options.health_probe_bind_address, false)) {
    return 1;
  }
  if (stats) stats->Start();
  log::Info("activator serving", {{"address", options.bind_address},
                                  {"port", (*proxy)->port()},
                                  {"threads", proxy_options.threads},
                                  {"cpu_quota", cpu_quota ? *cpu_quota : 0.0},
                                  {"activator_id", activator_id}});

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  // Rolling upgrades lose nothing: /readyz fails at once so that endpoints
  // stop naming us, but we keep accepting for --drain-delay while kube-proxy
  // and load balancers converge; then the listener closes and what is in
  // flight or held gets the longest timeoutSeconds of any Function (at least
  // --drain-timeout). A second signal ends the delay early.
  draining = true;
  const std::chrono::milliseconds drain = std::max(options.drain_timeout, catalog.LongestTimeout());
  log::Info(
      "draining",
      {{"signal", signal_number}, {"delay_ms", options.drain_delay.count()}, {"timeout_ms", drain.count()}});
  if (options.drain_delay.count() > 0) {
    timespec delay{static_cast<time_t>(options.drain_delay.count() / 1000),
                   static_cast<long>(options.drain_delay.count() % 1000) * 1'000'000};
    while (sigtimedwait(&signals, nullptr, &delay) < 0 && errno == EINTR) {
    }
  }
  log::Info("closing the listener", {{"open_connections", (*proxy)->open_connections()}});
  (*proxy)->Shutdown(drain);
  if (stats) stats->Stop();
  if (kube_sources) kube_sources->Stop();
  if (billing_log != nullptr) billing_log->Close();
  for (auto& server : admin) server->Stop();
  log::Info("stopped");
  return 0;
}
