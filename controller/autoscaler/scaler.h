// Scaler: the one seam through which the autoscaler's gRPC service changes
// replica counts. The controller implements it over the Deployment's scale
// subresource (the controller stays the only writer of replica counts).
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace zs::autoscaler {

class Scaler {
 public:
  virtual ~Scaler() = default;
  // Makes the Function's Deployment ask for at least one replica, at once.
  // Returns the replica count the Deployment asked for BEFORE the call:
  //   0  -> it was at zero and now asks for 1 (Wake answers SCALED);
  //   n>0 -> it was already active and was left alone (ALREADY_ACTIVE, n).
  // absl::NotFoundError when there is no such Function; any other error is
  // passed to the activator as UNAVAILABLE, and it retries.
  // Thread-safety: called concurrently from gRPC threads.
  virtual absl::StatusOr<int> ScaleFromZero(std::string_view ns, std::string_view name) = 0;
};

}  // namespace zs::autoscaler
