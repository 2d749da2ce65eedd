// Command-line options of zeroscale-activator.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/flags.h"

namespace zs::activator {

struct Options {
  std::string kubeconfig;
  std::string bind_address = ":8000";
  std::string metrics_bind_address = ":9091";
  std::string health_probe_bind_address = ":8081";
  std::string controller_address;     // empty: found through the leader Lease
  std::string controller_token_file;  // empty: the ServiceAccount token, when mounted
  std::string leader_election_namespace = "zeroscale-system";
  std::string leader_election_id = "zeroscale-controller";
  std::string activator_id;   // empty: hostname
  std::string relay_address;  // empty: $POD_IP and the --bind-address port
  std::string watch_namespace;
  std::string domain = "fn.zeroscale.internal";
  std::string default_memory = "128Mi";
  std::string billing_log = "-";  // "-" stdout, "" off, else a file path
  int64_t billing_max_pending_bytes = int64_t{16} * 1024 * 1024;
  int64_t max_buffered_requests = 10'000;
  int64_t max_header_bytes = int64_t{16} * 1024;
  int64_t max_body_bytes = int64_t{10} * 1024 * 1024;
  std::chrono::milliseconds header_read_timeout{10'000};
  std::chrono::milliseconds client_body_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds drain_timeout{30'000};
  std::chrono::milliseconds drain_delay{5'000};
  std::chrono::milliseconds stats_interval{1'000};
  int64_t threads = 0;  // 0: the container's CPU quota (rounded up), else the CPUs
  std::string log_level = "info";
  bool version = false;
  std::string static_config;  // JSON file of Functions and endpoints; see static_config.h
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds probe_interval{5};
  std::chrono::milliseconds upstream_idle_timeout{4'000};

  void Register(FlagSet& flags) {
    flags.String("kubeconfig", &kubeconfig,
                 "Path to a kubeconfig. Empty: $KUBECONFIG, then in-cluster config, then ~/.kube/config.");
    flags.String("bind-address", &bind_address, "Address the HTTP proxy listens on.");
    flags.String("metrics-bind-address", &metrics_bind_address,
                 "Address the /metrics endpoint binds to; \"0\" disables it.");
    flags.String("health-probe-bind-address", &health_probe_bind_address,
                 "Address the /healthz and /readyz endpoints bind to.");
    flags.String("controller-address", &controller_address,
                 "host:port of the controller's gRPC server; empty finds the leader through its Lease.");
    flags.String(
        "controller-token-file", &controller_token_file,
        "Bearer token sent on every gRPC call to the controller (re-read when it rotates); empty: the "
        "ServiceAccount token ($ZS_SERVICEACCOUNT_DIR or the standard mount) when present.");
    flags.String("leader-election-namespace", &leader_election_namespace,
                 "Namespace of the controller's leader Lease.");
    flags.String("leader-election-id", &leader_election_id, "Name of the controller's leader Lease.");
    flags.String("activator-id", &activator_id, "Identity in stats reports; empty uses the hostname.");
    flags.String("relay-address", &relay_address,
                 "host:port where the other activators reach this proxy to hand over requests for capped "
                 "Functions this one owns; empty: $POD_IP with the --bind-address port, or no part in "
                 "placement when POD_IP is unset (this activator then serves every Function itself).");
    flags.String("namespace", &watch_namespace, "Namespace to serve; empty serves all namespaces.");
    flags.String("domain", &domain, "Host-based routing domain: <name>.<namespace>.<domain>.");
    flags.String("default-memory", &default_memory, "Memory billed for a Function without a memory request.");
    flags.String("billing-log", &billing_log,
                 "Where one JSON line per invocation goes: \"-\" stdout, a file path, or \"\" for none.");
    flags.Int("billing-max-pending-bytes", &billing_max_pending_bytes,
              "Billing lines held in memory while the billing log is behind or failing; lines past it are "
              "dropped and counted in zeroscale_billing_lines_dropped_total.");
    flags.Int("max-buffered-requests", &max_buffered_requests,
              "Requests held across all Functions while they cold-start.");
    flags.Int("max-header-bytes", &max_header_bytes, "Largest request head accepted (431 above).");
    flags.Int("max-body-bytes", &max_body_bytes, "Largest request body accepted (413 above).");
    flags.Duration("header-read-timeout", &header_read_timeout,
                   "Time allowed to read a request head (slowloris guard).");
    flags.Duration("client-body-timeout", &client_body_timeout,
                   "Longest wait for the next byte of a request body being forwarded (408, or the connection "
                   "closed once the response started); 0 disables it.");
    flags.Duration("idle-timeout", &idle_timeout, "Keep-alive idle time of client connections.");
    flags.Duration("drain-timeout", &drain_timeout,
                   "On SIGTERM, the least time allowed to finish requests in flight and held; the longest "
                   "timeoutSeconds of any Function is allowed when it is longer.");
    flags.Duration(
        "drain-delay", &drain_delay,
        "On SIGTERM, how long to keep accepting (with /readyz failing) before closing the listener, "
        "so that endpoints converge first.");
    flags.Duration("stats-interval", &stats_interval, "How often load is reported to the controller.");
    flags.Int("threads", &threads,
              "I/O threads; 0 follows the container's CPU quota (rounded up), else one per usable CPU.");
    flags.String("log-level", &log_level, "debug, info, warn or error.");
    flags.Bool("version", &version, "Print the version and the git revision, then exit.");
    flags.String("static-config", &static_config,
                 "JSON file of Functions and their endpoints, for running without a cluster.");
    flags.Duration("connect-timeout", &connect_timeout, "Time allowed to connect to a replica.");
    flags.Duration("upstream-idle-timeout", &upstream_idle_timeout,
                   "How long an idle replica connection is reused; keep it below the functions' own "
                   "keep-alive timeout (a shorter Keep-Alive: timeout=N from a replica wins).");
    flags.Duration("probe-interval", &probe_interval,
                   "How often a starting replica is probed with a TCP connect, so it serves before its "
                   "readiness probe says so; 0 waits for Kubernetes.");
  }
};

}  // namespace zs::activator
