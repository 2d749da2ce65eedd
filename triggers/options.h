// Command-line options of zeroscale-triggers, named like controller-runtime's.
#pragma once

#include <chrono>
#include <string>

#include "common/flags.h"
#include "common/kube/leader_election.h"

namespace zs::triggers {

struct Options {
  std::string kubeconfig;
  std::string metrics_bind_address = ":8080";
  std::string health_probe_bind_address = ":8081";
  zs::kube::LeaderElectionOptions election{"zeroscale-triggers"};
  std::string watch_namespace;
  std::string activator_url = "http://zeroscale-activator.zeroscale-system.svc";
  std::string identity;
  std::chrono::milliseconds drain_timeout{30'000};
  // Broker triggers.
  std::chrono::milliseconds broker_ack_wait_margin{30'000};
  std::chrono::milliseconds broker_secret_refresh{60'000};
  std::chrono::milliseconds broker_status_interval{5'000};
  std::string log_level = "info";
  bool version = false;
  // End-to-end tests only: a wall clock that runs `testing_time_scale`
  // times faster than the real one from `testing_time_origin` (RFC 3339),
  // so that every-minute schedules tick every few seconds. Processes given
  // the same origin and scale agree on the time.
  double testing_time_scale = 1;
  std::string testing_time_origin;

  void Register(FlagSet& flags) {
    flags.String("kubeconfig", &kubeconfig,
                 "Path to a kubeconfig. Empty: in-cluster config, then $KUBECONFIG.");
    flags.String("metrics-bind-address", &metrics_bind_address,
                 "Address the /metrics endpoint binds to; \"0\" disables it.");
    flags.String("health-probe-bind-address", &health_probe_bind_address,
                 "Address the /healthz and /readyz endpoints bind to.");
    election.Register(flags, "fires schedules");
    flags.String("namespace", &watch_namespace, "Namespace to watch; empty watches all namespaces.");
    flags.String("activator-url", &activator_url,
                 "Base URL of the activator; triggers invoke Functions through it.");
    flags.String("identity", &identity, "Leader-election identity; empty uses hostname_pid.");
    flags.Duration("drain-timeout", &drain_timeout,
                   "On SIGTERM, how long to wait for invocations in flight before cancelling them.");
    flags.Duration(
        "broker-ack-wait-margin", &broker_ack_wait_margin,
        "Broker triggers: how long past the invocation timeout an unacknowledged message stays with "
        "the replica that took it before the broker delivers it to another (a crash's cost).");
    flags.Duration(
        "broker-secret-refresh", &broker_secret_refresh,
        "Broker triggers: how often the Secrets they name are read again (a change restarts the consumer).");
    flags.Duration("broker-status-interval", &broker_status_interval,
                   "Broker triggers: how often each replica adds what its consumers did to status.triggers.");
    flags.String("log-level", &log_level, "debug, info, warn or error.");
    flags.Bool("version", &version, "Print the version and the git revision, then exit.");
    flags.Double("testing-time-scale", &testing_time_scale,
                 "Tests only: run the schedule clock this many times faster than real time.");
    flags.String("testing-time-origin", &testing_time_origin,
                 "Tests only: RFC 3339 instant from which --testing-time-scale applies.");
  }
};

}  // namespace zs::triggers
