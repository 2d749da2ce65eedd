// AutoscalerLoop: the leader's scaling pass. Every tick, for each Function,
// it feeds the aggregated activator load and the Deployment's replica counts
// to the pure Decide(), and when the decision differs from the Deployment's
// spec.replicas it patches the scale subresource (the one writer of replica
// counts), records an Event and counts it. Wake() is the fast path from
// zero: one conditional scale patch, no waiting for a tick.
//
// It also keeps each Function's ScalingStatus (desired, last request, last
// scale, Active reason) for the reconciler, which is status's one writer,
// and enqueues the Function there when that changes.
//
// Lifecycle: construct; Start() when this replica leads (own thread); Stop()
// once, when it stops leading: it returns after the loop ended and any Wake()
// in flight finished, and later Wake()s are refused, so nothing scales once
// Stop() returned. Tick() and Wake() are public for tests.
// Thread-safety: Wake(), StatusOf() and Tick() may run concurrently.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"
#include "controller/autoscaler/decide.h"
#include "controller/autoscaler/scaler.h"
#include "controller/autoscaler/stats_aggregator.h"
#include "controller/events.h"
#include "controller/metrics.h"
#include "controller/reconciler/function_reconciler.h"

namespace zs::controller {

class AutoscalerLoop final : public autoscaler::Scaler {
 public:
  struct Options {
    Duration tick = std::chrono::seconds(2);
    autoscaler::Tuning tuning;
  };
  AutoscalerLoop(kube::KubeClient& client, Clock& clock, autoscaler::StatsAggregator& stats, Lister functions,
                 Lister deployments, std::function<std::vector<nlohmann::json>()> list_functions,
                 EventRecorder& events, ControllerMetrics& metrics,
                 std::function<void(const std::string&)> enqueue, Options options);
  ~AutoscalerLoop() override;

  void Start();
  void Stop();

  // One pass over every Function.
  void Tick();

  enum class WakeResult { kScaled, kAlreadyActive, kNotFound };
  // Scales a Function at zero to one replica now. Idempotent: a Function
  // already above zero is left alone (the patch is conditional on
  // spec.replicas == 0, so a stale cache cannot scale anything down).
  absl::StatusOr<WakeResult> Wake(const std::string& ns, const std::string& name);

  // autoscaler::Scaler, for the gRPC Wake call: the replica count before
  // the call (0 = it was woken now).
  absl::StatusOr<int> ScaleFromZero(std::string_view ns, std::string_view name) override;

  std::optional<ScalingStatus> StatusOf(const std::string& key) const;

 private:
  struct PerFunction {
    autoscaler::DecisionState state;
    ScalingStatus status;
  };
  void Run();
  void DecideOne(const nlohmann::json& function_object);
  void NoteScaled(const api::Function& fn, int32_t from, int32_t to, const std::string& why);

  kube::KubeClient& client_;
  Clock& clock_;
  autoscaler::StatsAggregator& stats_;
  Lister functions_;
  Lister deployments_;
  std::function<std::vector<nlohmann::json>()> list_functions_;
  EventRecorder& events_;
  ControllerMetrics& metrics_;
  std::function<void(const std::string&)> enqueue_;
  const Options options_;

  mutable std::mutex mu_;
  std::map<std::string, PerFunction> functions_state_;
  std::atomic<bool> stop_{false};
  // Held shared by each Wake(), exclusively by Stop() to wait them out.
  std::shared_mutex waking_mu_;
  std::thread thread_;
};

}  // namespace zs::controller
