#include "controller/autoscaler/autoscaler.h"

namespace zs::autoscaler {

Autoscaler::Autoscaler(StatsAggregator& stats, Clock& clock, Tuning tuning)
    : stats_(stats), clock_(clock), tuning_(tuning) {}

Decision Autoscaler::Evaluate(const FunctionKey& function, const api::ScalingSpec& spec,
                              int32_t ready_replicas, int32_t current_desired) {
  Samples samples = stats_.SamplesFor(function);
  samples.ready_replicas = ready_replicas;
  samples.current_desired = current_desired;
  const MonotonicTime now = clock_.Now();
  std::lock_guard lock(mu_);
  DecisionState& state = states_[function];
  Decision decision = Decide(samples, spec, state, now, tuning_);
  state = decision.state;
  return decision;
}

void Autoscaler::Forget(const FunctionKey& function) {
  stats_.Forget(function);
  std::lock_guard lock(mu_);
  states_.erase(function);
}

void Autoscaler::Reset() {
  std::lock_guard lock(mu_);
  states_.clear();
}

}  // namespace zs::autoscaler
