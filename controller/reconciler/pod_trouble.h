// Why a Function's pods do not start, read from the pods themselves: the
// causes a Deployment's own conditions do not show (it reports only pods it
// cannot create, and a stuck rollout after progressDeadlineSeconds).
//
//   - a container waiting with ErrImagePull, ImagePullBackOff,
//     InvalidImageName, ErrImageNeverPull, CrashLoopBackOff,
//     CreateContainerConfigError, CreateContainerError or RunContainerError;
//   - a container not ready that has restarted after a failed run (a crash
//     loop caught between its restarts): reason CrashLoopBackOff;
//   - a pod the scheduler cannot place (PodScheduled=False, Unschedulable).
//
// Pods being deleted are left out. Pure. Thread-safety: none needed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zs::controller {

struct PodTrouble {
  std::string reason;   // e.g. ImagePullBackOff
  std::string message;  // "pod <name> container <c>: <the kubelet's message>"
};

// The first trouble found among `pods` (in their order), if any.
std::optional<PodTrouble> PodTroubleOf(const std::vector<nlohmann::json>& pods);

// True for the reasons PodTroubleOf gives: a Ready=False of one of these,
// written for the Function's current generation, is kept once the Function
// is at zero (its image never started; the next request tries again).
bool IsPodTroubleReason(const std::string& reason);

}  // namespace zs::controller
