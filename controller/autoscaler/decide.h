// The scaling decision: a pure function of (samples, spec, state, now), in
// the manner of Knative KPA's autoscaler.Scale, with zeroscale's rules for
// zero (docs/autoscaling.md). README.md in this folder walks through it.
//
// Thread-safety: pure; call from anywhere.
#pragma once

#include <vector>

#include "common/api/function.h"
#include "common/clock.h"
#include "controller/autoscaler/types.h"

namespace zs::autoscaler {

// The start of the one-second bucket that holds `t`.
MonotonicTime BucketOf(MonotonicTime t);

// Average concurrency per second over the `window` seconds ending at `now`'s
// bucket (or the bucket before it while `now`'s has no point yet: a report
// not yet received is not a second of zero load). Seconds without a point
// count as zero. When the oldest point is younger than the window, the
// average runs over the seconds since that point (Knative does the same), so
// that a function waking from idle is not diluted by a minute of nothing.
double WindowAverage(const std::vector<ConcurrencyPoint>& points, MonotonicTime now, Duration window);

// The demand of a Function's broker triggers, from status.triggers: for
// each, its backlog (`pending`, as the trigger component last reported it)
// bounded by `delivery.maxInFlight`, the most it sends at once.
int64_t TriggerBacklog(const api::Function& fn);

Decision Decide(const Samples& samples, const api::ScalingSpec& spec, const DecisionState& state,
                MonotonicTime now, const Tuning& tuning = {});

}  // namespace zs::autoscaler
