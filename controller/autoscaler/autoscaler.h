// Autoscaler: keeps each Function's DecisionState between ticks and runs
// Decide() on the aggregator's samples. The controller's scaling loop calls
// Evaluate() once per Function per tick (1 s suggested) with what it reads
// from the Deployment, and patches the scale subresource when `desired`
// differs from the current count.
//
// Lifecycle: one per controller; Reset() when leadership is lost (a new term
// starts from fresh state, which Decide() treats conservatively).
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <map>
#include <mutex>

#include "common/api/function.h"
#include "common/clock.h"
#include "controller/autoscaler/decide.h"
#include "controller/autoscaler/stats_aggregator.h"

namespace zs::autoscaler {

class Autoscaler {
 public:
  Autoscaler(StatsAggregator& stats, Clock& clock, Tuning tuning = {});

  Decision Evaluate(const FunctionKey& function, const api::ScalingSpec& spec, int32_t ready_replicas,
                    int32_t current_desired);
  // The Function was deleted.
  void Forget(const FunctionKey& function);
  void Reset();

 private:
  StatsAggregator& stats_;
  Clock& clock_;
  const Tuning tuning_;
  std::mutex mu_;
  std::map<FunctionKey, DecisionState> states_;
};

}  // namespace zs::autoscaler
