#include "controller/autoscaler/decide.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace zs::autoscaler {
namespace {

// Far above any replica bound (api::Defaults::kMaxReplicasCap), far below
// what int64 holds: the bounds clamp it afterwards.
constexpr double kMaxWant = 1e12;

int64_t CeilDiv(double value, double divisor) {
  // NaN fails every comparison: it asks for nothing. Samples are range-checked
  // where they enter (proto_convert.h); this keeps Decide total anyway.
  if (!(value > 0) || !(divisor > 0)) return 0;
  // Guard against 20.000000001 / 10 asking for 3 replicas.
  const double want = std::ceil(value / divisor - 1e-9);
  return static_cast<int64_t>(std::min(want, kMaxWant));
}

}  // namespace

MonotonicTime BucketOf(MonotonicTime t) {
  return MonotonicTime(std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()));
}

double WindowAverage(const std::vector<ConcurrencyPoint>& points, MonotonicTime now, Duration window) {
  if (points.empty()) return 0;
  const int64_t buckets = std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(window).count());
  MonotonicTime last = BucketOf(now);
  if (BucketOf(points.back().second) < last) last -= 1s;
  const MonotonicTime first = last - std::chrono::seconds(buckets - 1);
  double sum = 0;
  for (const auto& p : points) {
    const MonotonicTime b = BucketOf(p.second);
    if (b >= first && b <= last) sum += p.concurrency;
  }
  const MonotonicTime oldest = BucketOf(points.front().second);
  int64_t span = buckets;
  if (oldest > first) span = std::chrono::duration_cast<std::chrono::seconds>(last - oldest).count() + 1;
  if (span <= 0) return 0;
  return sum / static_cast<double>(span);
}

int64_t TriggerBacklog(const api::Function& fn) {
  int64_t total = 0;
  for (const api::TriggerSpec& t : fn.spec.triggers) {
    if (!t.nats && !t.redis) continue;
    for (const api::TriggerStatus& s : fn.trigger_statuses) {
      if (s.name == t.name && s.pending && *s.pending > 0) {
        total += std::min<int64_t>(*s.pending, t.delivery.max_in_flight);
      }
    }
  }
  return total;
}

Decision Decide(const Samples& samples, const api::ScalingSpec& spec, const DecisionState& state,
                MonotonicTime now, const Tuning& tuning) {
  Decision d;
  d.state = state;
  DecisionState& st = d.state;
  if (!st.tracking_since) st.tracking_since = now;

  const int32_t min_replicas = std::max(0, spec.min_replicas);
  const int32_t max_replicas = std::max({1, min_replicas, spec.max_replicas});
  const double target =
      spec.target_concurrency > 0 ? spec.target_concurrency : api::Defaults::kTargetConcurrency;
  const Duration idle_after = std::chrono::seconds(std::max(0, spec.scale_to_zero_after_seconds));
  const int32_t current = std::max(0, samples.current_desired);
  const int32_t ready = std::max(0, samples.ready_replicas);

  d.stable_concurrency = WindowAverage(samples.concurrency, now, tuning.stable_window);
  d.panic_concurrency = WindowAverage(samples.concurrency, now, tuning.panic_window);

  auto finish = [&](int64_t desired, std::string reason) {
    const int64_t bounded = std::clamp<int64_t>(desired, min_replicas, max_replicas);
    if (bounded > desired) reason = "min-replicas";
    if (bounded < desired) reason = "max-replicas";
    d.desired = static_cast<int32_t>(bounded);
    d.reason = std::move(reason);
    if (d.desired == 0) {
      if (current > 0 || !st.scaled_to_zero_at) st.scaled_to_zero_at = now;
      st.panic_since.reset();
      st.last_panic_condition.reset();
      st.max_panic_replicas = 0;
    } else {
      st.scaled_to_zero_at.reset();
    }
    d.panicking = st.panic_since.has_value();
    return d;
  };

  // No fresh report from any activator: we know nothing about load (a new
  // leader before the activators reconnected, or the data path is down).
  // Hold, as Knative does without metrics.
  if (samples.live_activators == 0) return finish(current, "no-data");

  // Idleness is decided from arrivals and counts, never from sampled
  // concurrency: steady low traffic averages to ~0 but is not idle (KEDA
  // #1352). Without any known request, idleness counts from when we started
  // tracking, so a freshly elected leader waits a full period.
  const MonotonicTime idle_since = samples.last_request_time.value_or(*st.tracking_since);
  const bool nothing_pending = samples.in_flight == 0 && samples.queued == 0 && samples.backlog == 0;
  const bool idle = nothing_pending && now - idle_since >= idle_after;
  const bool recent_request =
      samples.last_request_time.has_value() && now - *samples.last_request_time < idle_after;

  // A broker backlog (TriggerBacklog) is demand the activators have not
  // seen yet: the messages a trigger will send as fast as maxInFlight lets
  // it. Those in flight are in the concurrency too, hence max, not a sum.
  const double backlog = static_cast<double>(samples.backlog);
  const int64_t stable_want = CeilDiv(std::max(d.stable_concurrency, backlog), target);
  // Requests waiting in an activator's buffer are demand that concurrency
  // (which counts forwarded requests only) does not show yet.
  const int64_t panic_want =
      CeilDiv(std::max(d.panic_concurrency + static_cast<double>(samples.queued), backlog), target);

  // At zero: any request wakes it, sized by what is waiting.
  if (current == 0) {
    const bool demand = !nothing_pending || recent_request;
    if (!demand) return finish(0, "idle");
    return finish(std::max<int64_t>({1, stable_want, panic_want}), "wake");
  }

  // Rate limits relative to what is ready (Knative); with nothing ready yet
  // the base is 1.
  const double base = std::max(1, ready);
  const int64_t max_up = static_cast<int64_t>(std::ceil(base * tuning.max_scale_up_rate));
  const int64_t max_down = static_cast<int64_t>(std::floor(base / tuning.max_scale_down_rate));
  const int64_t stable_bounded = std::clamp(stable_want, max_down, max_up);
  const int64_t panic_bounded = std::clamp(panic_want, max_down, max_up);

  const bool over_threshold =
      ready > 0 && static_cast<double>(panic_bounded) >= tuning.panic_threshold * static_cast<double>(ready);
  if (over_threshold) {
    if (!st.panic_since) st.panic_since = now;
    st.last_panic_condition = now;
  } else if (st.panic_since && now - *st.last_panic_condition >= tuning.stable_window) {
    st.panic_since.reset();
    st.last_panic_condition.reset();
    st.max_panic_replicas = 0;
  }

  // Idle wins over panic: panic guards against scaling down under load, and
  // with no arrival for scaleToZeroAfterSeconds and nothing in flight or
  // queued there is none. Holding the burst's replicas for the rest of the
  // stable window would bill the user for time they did not ask for.
  if (idle) {
    // Over whatever minReplicas keeps too: a request after this starts afresh.
    st.panic_since.reset();
    st.last_panic_condition.reset();
    st.max_panic_replicas = 0;
    return finish(0, "idle");
  }

  int64_t desired;
  std::string reason;
  if (st.panic_since) {
    // Never scale down while panicking (requests still arrive: not idle).
    st.max_panic_replicas = static_cast<int32_t>(
        std::min<int64_t>(std::max<int64_t>({st.max_panic_replicas, panic_bounded, stable_bounded}),
                          std::numeric_limits<int32_t>::max()));
    desired = std::max<int64_t>(st.max_panic_replicas, current);
    reason = "panic";
  } else if (ready == 0) {
    // Replicas asked for are not ready yet: we cannot tell what they will
    // serve, so only scale up.
    desired = std::max<int64_t>({current, stable_bounded, panic_bounded});
    reason = "starting";
  } else {
    desired = stable_bounded;
    reason = "stable";
    if (stable_want > max_up) reason = "scale-up-rate";
    if (stable_want < max_down) reason = "scale-down-rate";
  }
  if (desired == 0) {
    desired = 1;  // traffic, however little, keeps one replica
    if (reason == "stable") reason = "active";
  }
  return finish(desired, reason);
}

}  // namespace zs::autoscaler
