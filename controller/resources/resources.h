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
// Extra time a pod gets past the execution timeout to finish its last
// invocation after SIGTERM.
inline constexpr int32_t kTerminationSlackSeconds = 5;

// Labels on the Deployment, its pods and the Service; the selector is the
// function label alone so that label changes never orphan pods.
nlohmann::json Labels(const api::Function& fn);
nlohmann::json OwnerReference(const api::Function& fn);

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
// as "1Gi"), so an unchanged Function reconciles without a write.
bool IsSubset(const nlohmann::json& desired, const nlohmann::json& actual);

}  // namespace zs::controller::resources
