// Asks the controller to scale a Function up from zero at once (the gRPC Wake
// call; docs/autoscaling.md: one gRPC call and one scale patch).
//
// The buffer calls Wake at most once per activation; see buffer.h for when a
// new activation starts.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "activator/admission/function_config.h"

namespace zs::activator {

class Waker {
 public:
  virtual ~Waker() = default;
  // `scaled`: this call is the one that took the Function from zero (the
  // controller answers that to one caller per activation, whichever activator
  // it came from), so cold starts are counted once across activators.
  using Done = std::function<void(const absl::Status& status, bool scaled)>;
  // Starts a wake-up; `done` runs exactly once, on any thread, with OK when
  // the controller scaled the Function (or it already had replicas wanted),
  // an error otherwise. Must not block.
  virtual void Wake(const FunctionKey& key, Done done) = 0;
};

// For a standalone activator (--static-config without a controller): there is
// nobody to wake, so it succeeds at once and endpoints come from the file.
class NoopWaker final : public Waker {
 public:
  void Wake(const FunctionKey&, Done done) override { done(absl::OkStatus(), /*scaled=*/true); }
};

}  // namespace zs::activator
