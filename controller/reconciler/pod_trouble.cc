#include "controller/reconciler/pod_trouble.h"

#include <array>
#include <string_view>

#include "common/strings.h"

namespace zs::controller {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 8> kWaitingReasons = {
    "ErrImagePull",     "ImagePullBackOff",           "InvalidImageName",     "ErrImageNeverPull",
    "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"};

bool IsWaitingTrouble(std::string_view reason) {
  for (std::string_view r : kWaitingReasons) {
    if (r == reason) return true;
  }
  return false;
}

const json& At(const json& object, const char* pointer) {
  static const json kNull;
  const json::json_pointer p(pointer);
  return object.contains(p) ? object.at(p) : kNull;
}

std::string Str(const json& object, const char* key) {
  return object.is_object() ? object.value(key, "") : "";
}

std::optional<PodTrouble> ContainerTrouble(const std::string& pod, const json& status) {
  const std::string container = Str(status, "name");
  const json& waiting = At(status, "/state/waiting");
  const std::string reason = Str(waiting, "reason");
  if (IsWaitingTrouble(reason)) {
    std::string message = Str(waiting, "message");
    const json& last = At(status, "/lastState/terminated");
    if (message.empty() && last.is_object()) {
      message = Cat("last run ended with exit code ", last.value("exitCode", 0),
                    last.contains("reason") ? Cat(" (", Str(last, "reason"), ")") : "");
    }
    return PodTrouble{reason, Cat("pod ", pod, " container ", container, ": ", reason,
                                  message.empty() ? "" : Cat(": ", message))};
  }
  // Between two runs of a crash loop the container is running (not ready)
  // or just terminated: its last run failed and it restarted.
  const json& last = At(status, "/lastState/terminated");
  if (!status.value("ready", false) && status.value("restartCount", 0) > 0 && last.is_object() &&
      last.value("exitCode", 0) != 0) {
    return PodTrouble{
        "CrashLoopBackOff",
        Cat("pod ", pod, " container ", container, ": restarted ", status.value("restartCount", 0),
            " times; last run ended with exit code ", last.value("exitCode", 0),
            last.contains("reason") ? Cat(" (", Str(last, "reason"), ")") : "")};
  }
  return std::nullopt;
}

}  // namespace

std::optional<PodTrouble> PodTroubleOf(const std::vector<json>& pods) {
  for (const json& pod : pods) {
    if (!pod.is_object() || pod.contains(json::json_pointer("/metadata/deletionTimestamp"))) continue;
    const std::string name = Str(At(pod, "/metadata"), "name");
    for (const char* list : {"/status/initContainerStatuses", "/status/containerStatuses"}) {
      const json& statuses = At(pod, list);
      if (!statuses.is_array()) continue;
      for (const json& s : statuses) {
        if (auto trouble = ContainerTrouble(name, s)) return trouble;
      }
    }
    const json& conditions = At(pod, "/status/conditions");
    if (conditions.is_array()) {
      for (const json& c : conditions) {
        if (Str(c, "type") == "PodScheduled" && Str(c, "status") == "False" &&
            Str(c, "reason") == "Unschedulable") {
          return PodTrouble{"Unschedulable", Cat("pod ", name, ": ", Str(c, "message"))};
        }
      }
    }
  }
  return std::nullopt;
}

bool IsPodTroubleReason(const std::string& reason) {
  return IsWaitingTrouble(reason) || reason == "Unschedulable";
}

}  // namespace zs::controller
