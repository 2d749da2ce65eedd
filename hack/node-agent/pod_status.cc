#include "hack/node-agent/pod_status.h"

#include "common/time_format.h"

namespace zs::nodeagent {
namespace {

nlohmann::json TerminationJson(const Termination& t) {
  nlohmann::json out = {{"exitCode", t.exit_code},
                        {"reason", t.reason},
                        {"startedAt", FormatRfc3339(t.started_at)},
                        {"finishedAt", FormatRfc3339(t.finished_at)}};
  if (t.signal != 0) out["signal"] = t.signal;
  if (!t.message.empty()) out["message"] = t.message;
  if (!t.container_id.empty()) out["containerID"] = t.container_id;
  return out;
}

std::string OldTransitionTime(const nlohmann::json& old_status, const std::string& type,
                              const std::string& status) {
  if (!old_status.is_object()) return "";
  auto conditions = old_status.find("conditions");
  if (conditions == old_status.end() || !conditions->is_array()) return "";
  for (const auto& c : *conditions) {
    if (c.value("type", "") == type && c.value("status", "") == status)
      return c.value("lastTransitionTime", "");
  }
  return "";
}

}  // namespace

std::string PodPhase(const PodView& pod) {
  if (!pod.sandbox_ready || pod.containers.empty()) return "Pending";
  bool any_running = false;
  bool all_terminated = true;
  bool all_succeeded = true;
  bool ever_ran = false;
  for (const auto& c : pod.containers) {
    if (c.state == ContainerView::State::kRunning) any_running = true;
    if (c.state == ContainerView::State::kRunning || c.terminated || c.last_termination) ever_ran = true;
    if (c.state != ContainerView::State::kTerminated || c.will_restart) all_terminated = false;
    if (c.terminated && c.terminated->exit_code != 0) all_succeeded = false;
  }
  if (any_running) return "Running";
  if (all_terminated) return all_succeeded ? "Succeeded" : "Failed";
  // Waiting to restart after having run (CrashLoopBackOff) counts as Running.
  return ever_ran ? "Running" : "Pending";
}

nlohmann::json BuildPodStatus(const PodView& pod, const nlohmann::json& old_status, SystemTime now) {
  const std::string phase = PodPhase(pod);
  bool all_ready = !pod.containers.empty();
  nlohmann::json statuses = nlohmann::json::array();
  for (const auto& c : pod.containers) {
    all_ready = all_ready && c.ready;
    nlohmann::json state;
    switch (c.state) {
      case ContainerView::State::kRunning:
        state = {{"running", {{"startedAt", FormatRfc3339(c.started_at)}}}};
        break;
      case ContainerView::State::kTerminated:
        state = {{"terminated", TerminationJson(c.terminated.value_or(Termination{}))}};
        break;
      case ContainerView::State::kWaiting: {
        nlohmann::json waiting = {{"reason", c.waiting_reason}};
        if (!c.waiting_message.empty()) waiting["message"] = c.waiting_message;
        state = {{"waiting", waiting}};
        break;
      }
    }
    nlohmann::json status = {
        {"name", c.name},
        {"image", c.image},
        {"imageID", c.image_id},
        {"ready", c.ready},
        {"started", c.state == ContainerView::State::kRunning},
        {"restartCount", c.restart_count},
        {"state", state},
        {"lastState", c.last_termination
                          ? nlohmann::json{{"terminated", TerminationJson(*c.last_termination)}}
                          : nlohmann::json::object()},
    };
    if (!c.container_id.empty()) status["containerID"] = c.container_id;
    statuses.push_back(std::move(status));
  }

  const std::string now_text = FormatRfc3339(now);
  auto condition = [&](const std::string& type, bool value, const std::string& reason) {
    const std::string text = value ? "True" : "False";
    std::string since = OldTransitionTime(old_status, type, text);
    nlohmann::json c = {{"type", type},
                        {"status", text},
                        {"lastProbeTime", nullptr},
                        {"lastTransitionTime", since.empty() ? now_text : since}};
    if (!value && !reason.empty()) c["reason"] = reason;
    return c;
  };
  const bool terminal = phase == "Succeeded" || phase == "Failed";
  const bool ready = all_ready && !terminal;
  nlohmann::json conditions = nlohmann::json::array({
      condition("PodReadyToStartContainers", pod.sandbox_ready, ""),
      condition("Initialized", true, ""),
      condition("Ready", ready, terminal ? "PodCompleted" : "ContainersNotReady"),
      condition("ContainersReady", ready, terminal ? "PodCompleted" : "ContainersNotReady"),
      condition("PodScheduled", true, ""),
  });

  nlohmann::json status = {
      {"phase", phase},
      {"conditions", conditions},
      {"containerStatuses", statuses},
      {"hostIP", pod.host_ip},
      {"hostIPs", nlohmann::json::array({{{"ip", pod.host_ip}}})},
      {"startTime", FormatRfc3339(pod.start_time)},
  };
  if (!pod.pod_ip.empty()) {
    status["podIP"] = pod.pod_ip;
    status["podIPs"] = nlohmann::json::array({{{"ip", pod.pod_ip}}});
  }
  // null removes a stale message through the merge patch.
  status["message"] = pod.sandbox_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(pod.sandbox_error);
  return status;
}

}  // namespace zs::nodeagent
