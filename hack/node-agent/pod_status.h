// The pod status the node agent reports, built from what it knows about the
// pod's sandbox and containers. Pure (time comes in as `now`), so it is
// table-tested; the agent PATCHes the result to pods/<name>/status when it
// differs from what it last sent.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace zs::nodeagent {

struct Termination {
  int exit_code = 0;
  int signal = 0;      // 0 when the process exited by itself
  std::string reason;  // "Completed", "Error"
  std::string message;
  SystemTime started_at{};
  SystemTime finished_at{};
  std::string container_id;
};

struct ContainerView {
  std::string name;
  std::string image;
  std::string image_id;
  std::string container_id;
  enum class State { kWaiting, kRunning, kTerminated } state = State::kWaiting;
  std::string waiting_reason = "ContainerCreating";
  std::string waiting_message;
  SystemTime started_at{};                // kRunning
  std::optional<Termination> terminated;  // kTerminated
  std::optional<Termination> last_termination;
  int restart_count = 0;
  bool ready = false;
  // True while the container will be started again (restart policy).
  bool will_restart = false;
};

struct PodView {
  bool sandbox_ready = false;
  std::string sandbox_error;  // why the sandbox could not be created
  std::string pod_ip;
  std::string host_ip;
  SystemTime start_time{};
  std::vector<ContainerView> containers;
};

// Phase: Pending until the sandbox exists and a container ran; Running while
// any container runs or will restart; Succeeded/Failed when all terminated for
// good (all exit 0 -> Succeeded).
std::string PodPhase(const PodView& pod);

// Full status object. `old_status` (the pod's current .status) keeps
// lastTransitionTime of conditions whose status did not change.
nlohmann::json BuildPodStatus(const PodView& pod, const nlohmann::json& old_status, SystemTime now);

}  // namespace zs::nodeagent
