// Pure builders of the child objects of a Function (as Knative's
// pkg/reconciler/*/resources): same Function in, same JSON out. Golden tests
// in controller/tests pin their output.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/api/function.h"

namespace zs::controller::resources {

inline constexpr char kFunctionLabel[] = "zeroscale.dev/function";
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedBy[] = "zeroscale";
inline constexpr char kContainerName[] = "function";
inline constexpr char kPortName[] = "http";
// On each child: a hash of the configuration the controller last applied.
// A child whose hash matches the Function's configuration (and which shows
// every field of it) needs no apply; a changed Function changes the hash, and
// the apply that follows removes whatever the new configuration left out.
inline constexpr char kAppliedHashAnnotation[] = "zeroscale.dev/applied-hash";
// How long a stopping pod keeps serving before its container gets SIGTERM
// (a preStop sleep action, run by the kubelet: no binary in the image): the
// time for its EndpointSlice to mark it not ready and every activator to see
// that, so that nothing is forwarded to a pod that has stopped listening.
inline constexpr int32_t kPreStopSleepSeconds = 5;
// Extra time past the preStop sleep and the execution timeout before the
// kubelet's SIGKILL: an invocation forwarded at the last moment of the
// sleep still has its full timeoutSeconds to finish.
inline constexpr int32_t kTerminationSlackSeconds = 5;
// terminationGracePeriodSeconds of a Function's pods.
int64_t TerminationGracePeriodSeconds(const api::FunctionSpec& spec);

// Labels on the Deployment, its pods and the Service; the selector is the
// function label alone so that label changes never orphan pods.
nlohmann::json Labels(const api::Function& fn);
nlohmann::json OwnerReference(const api::Function& fn);

// The pod-level and container-level security contexts: Pod Security
// "restricted" (runAsNonRoot, RuntimeDefault seccomp; no privilege
// escalation, all capabilities dropped), each field replaced by the one the
// Function's securityContext / containerSecurityContext sets.
nlohmann::json PodSecurityContext(const api::FunctionSpec& spec);
nlohmann::json ContainerSecurityContext(const api::FunctionSpec& spec);

// The Deployment. `replicas` is set only when creating (minReplicas); after
// that the autoscaler owns spec.replicas and updates leave it out.
nlohmann::json MakeDeployment(const api::Function& fn, std::optional<int32_t> replicas);

// The ClusterIP Service whose EndpointSlices the activator watches.
nlohmann::json MakeService(const api::Function& fn);

// The URL that invokes the function through the activator.
std::string FunctionUrl(const std::string& activator_url, const api::Function& fn);

// `object` with metadata.annotations[kAppliedHashAnnotation] set to a hash of
// `object` itself (FNV-1a of its canonical JSON, keys sorted): the
// configuration the reconciler applies.
nlohmann::json WithAppliedHash(nlohmann::json object);
// The annotation's value on `object`, "" when absent.
std::string AppliedHashOf(const nlohmann::json& object);

// True when every field in `desired` is present with the same value in
// `actual` (objects recursively, arrays element by element with equal
// length). Fields the apiserver defaulted into `actual` do not count as a
// difference, and neither does a quantity under a `resources` key that the
// apiserver wrote in its canonical form ("1000m" read back as "1", "1024Mi"
// as "1Gi"), and neither does an empty list or map the apiserver dropped
// (`tolerations: []`), so an unchanged Function reconciles without a write.
bool IsSubset(const nlohmann::json& desired, const nlohmann::json& actual);

}  // namespace zs::controller::resources
