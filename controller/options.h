// Command-line options of zeroscale-controller, named like controller-runtime's.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/flags.h"
#include "common/kube/leader_election.h"

namespace zs::controller {

struct Options {
  std::string kubeconfig;  // empty: in-cluster config, then $KUBECONFIG
  std::string metrics_bind_address = ":8080";
  std::string health_probe_bind_address = ":8081";
  std::string grpc_bind_address = ":9090";
  zs::kube::LeaderElectionOptions election{"zeroscale-controller"};
  std::string watch_namespace;  // empty: all namespaces
  std::string domain = "fn.zeroscale.internal";
  std::string activator_url = "http://zeroscale-activator.zeroscale-system.svc";
  std::string identity;  // empty: hostname_pid
  // Where activators reach this replica's gRPC server; empty: $POD_IP (or
  // 127.0.0.1) with the port of --grpc-bind-address. Written into the
  // Lease's holderIdentity as "<identity>@<address>" so that activators find
  // the leader from the Lease alone.
  std::string grpc_advertise_address;
  // Comma-separated usernames (as TokenReview reports them) allowed to call
  // the gRPC service, e.g. system:serviceaccount:zeroscale-system:zeroscale-activator.
  // Empty: calls are not authenticated (the chart always sets it).
  std::string grpc_allowed_identities;
  std::chrono::milliseconds autoscaler_tick{2'000};
  int64_t max_concurrent_reconciles = 4;
  std::chrono::milliseconds sync_period{600'000};
  std::chrono::milliseconds child_retry_initial{1'000};
  std::chrono::milliseconds child_retry_max{300'000};
  std::string log_level = "info";
  bool version = false;

  void Register(FlagSet& flags) {
    flags.String("kubeconfig", &kubeconfig,
                 "Path to a kubeconfig. Empty: $KUBECONFIG, then in-cluster config, then ~/.kube/config.");
    flags.String("metrics-bind-address", &metrics_bind_address,
                 "Address the /metrics endpoint binds to; \"0\" disables it.");
    flags.String("health-probe-bind-address", &health_probe_bind_address,
                 "Address the /healthz and /readyz endpoints bind to.");
    flags.String("grpc-bind-address", &grpc_bind_address,
                 "Address of the gRPC server that receives activator stats and wake-ups.");
    election.Register(flags, "reconciles and scales");
    flags.String("namespace", &watch_namespace, "Namespace to watch; empty watches all namespaces.");
    flags.String("domain", &domain, "Domain of Host-based routing: <name>.<namespace>.<domain>.");
    flags.String("activator-url", &activator_url, "Base URL of the activator, used to write status.url.");
    flags.String("identity", &identity, "Leader-election identity; empty uses hostname_pid.");
    flags.String("grpc-advertise-address", &grpc_advertise_address,
                 "host:port activators use to reach this replica's gRPC server; empty: $POD_IP or 127.0.0.1 "
                 "with the --grpc-bind-address port.");
    flags.String("grpc-allowed-identities", &grpc_allowed_identities,
                 "Comma-separated identities (ServiceAccount usernames) whose bearer token, checked with a "
                 "TokenReview, admits a gRPC call; empty: no authentication.");
    flags.Duration("autoscaler-tick", &autoscaler_tick, "How often the autoscaler decides.");
    flags.Int("max-concurrent-reconciles", &max_concurrent_reconciles, "Reconcile workers.");
    flags.Duration("sync-period", &sync_period,
                   "How often every Function is reconciled again without an event (a settled one writes "
                   "nothing).");
    flags.Duration("child-retry-initial", &child_retry_initial,
                   "Wait before writing a Function's Deployment or Service again after a failed write; "
                   "doubles with each consecutive failure.");
    flags.Duration("child-retry-max", &child_retry_max, "Longest wait between failed child writes.");
    flags.String("log-level", &log_level, "debug, info, warn or error.");
    flags.Bool("version", &version, "Print the version and the git revision, then exit.");
  }
};

}  // namespace zs::controller
