// Readiness probes: what a container's readinessProbe asks for, and one
// attempt of it. Probes connect from the agent's (host) network namespace to
// the pod IP, which the host reaches through its route to the cluster
// network; no setns needed.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace zs::nodeagent {

struct ProbeSpec {
  enum class Kind { kNone, kHttp, kTcp, kUnsupported } kind = Kind::kNone;
  int port = 0;
  std::string path = "/";
  std::string host_header;
  std::vector<std::pair<std::string, std::string>> headers;
  Duration initial_delay{};
  Duration period = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(1);
  int success_threshold = 1;
  int failure_threshold = 3;
};

// Parses container.readinessProbe (defaults as Kubernetes'); named ports are
// looked up in container.ports. Exec and gRPC probes: kUnsupported (the agent
// treats the container as ready when running, and says so in its log).
ProbeSpec ParseProbe(const nlohmann::json& container, const char* field = "readinessProbe");

// One attempt against ip:spec.port. HTTP: success on a 200-399 status line.
bool RunProbe(const ProbeSpec& spec, const std::string& ip);

}  // namespace zs::nodeagent
