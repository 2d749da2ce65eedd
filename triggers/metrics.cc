#include "triggers/metrics.h"

namespace zs::triggers {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

TriggerMetrics::TriggerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      events_(BuildCounter()
                  .Name("zeroscale_trigger_events_total")
                  .Help("Trigger outcomes per tick: success (2xx), failure (other status or none), replaced "
                        "(cancelled by concurrencyPolicy Replace), missed (past startingDeadlineSeconds), "
                        "interrupted (claimed by a process that died before the outcome).")
                  .Register(*registry_)),
      fire_delay_(
          BuildHistogram()
              .Name("zeroscale_trigger_fire_delay_seconds")
              .Help("Seconds from a tick's scheduled time to its request being sent to the activator.")
              .Register(*registry_)),
      status_writes_(
          BuildCounter()
              .Name("zeroscale_trigger_status_writes_total")
              .Help("Conditional writes of status.triggers by result: ok, conflict (another writer "
                    "changed the Function; retried), error.")
              .Register(*registry_)),
      pending_(BuildGauge()
                   .Name("zeroscale_trigger_pending")
                   .Help("Broker triggers: messages not yet delivered to the consumer group plus messages "
                         "delivered and not acknowledged, as the broker reports it.")
                   .Register(*registry_)),
      connected_(BuildGauge()
                     .Name("zeroscale_trigger_connected")
                     .Help("Broker triggers: 1 while this replica's consumer is connected to its broker.")
                     .Register(*registry_)),
      leader_(BuildGauge()
                  .Name("zeroscale_triggers_leader")
                  .Help("1 while this replica holds the triggers Lease and fires schedules.")
                  .Register(*registry_)
                  .Add({})) {}

void TriggerMetrics::CountEvent(const TriggerId& id, const std::string& result, double count) {
  {
    std::lock_guard lock(mu_);
    series_[{id.ns, id.function}].insert({id.trigger, result});
  }
  events_.Add({{"namespace", id.ns}, {"function", id.function}, {"trigger", id.trigger}, {"result", result}})
      .Increment(count);
}

void TriggerMetrics::ObserveFireDelay(const TriggerId& id, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                                                   2.5,  5,    10,  30,   60,  300};
  {
    std::lock_guard lock(mu_);
    series_[{id.ns, id.function}].insert({id.trigger, ""});
  }
  fire_delay_.Add({{"namespace", id.ns}, {"function", id.function}, {"trigger", id.trigger}}, kBuckets)
      .Observe(seconds);
}

void TriggerMetrics::CountStatusWrite(const std::string& result) {
  status_writes_.Add({{"result", result}}).Increment();
}

namespace {
constexpr char kPendingSeries[] = "#pending";
constexpr char kConnectedSeries[] = "#connected";
}  // namespace

void TriggerMetrics::SetPending(const TriggerId& id, double messages) {
  {
    std::lock_guard lock(mu_);
    series_[{id.ns, id.function}].insert({id.trigger, kPendingSeries});
  }
  pending_.Add({{"namespace", id.ns}, {"function", id.function}, {"trigger", id.trigger}}).Set(messages);
}

void TriggerMetrics::SetConnected(const TriggerId& id, bool connected) {
  {
    std::lock_guard lock(mu_);
    series_[{id.ns, id.function}].insert({id.trigger, kConnectedSeries});
  }
  connected_.Add({{"namespace", id.ns}, {"function", id.function}, {"trigger", id.trigger}})
      .Set(connected ? 1 : 0);
}

void TriggerMetrics::SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }

void TriggerMetrics::RemoveFunction(const std::string& ns, const std::string& function) {
  std::set<std::pair<std::string, std::string>> series;
  {
    std::lock_guard lock(mu_);
    auto it = series_.find({ns, function});
    if (it == series_.end()) return;
    series = std::move(it->second);
    series_.erase(it);
  }
  for (const auto& [trigger, result] : series) {
    const prometheus::Labels labels = {{"namespace", ns}, {"function", function}, {"trigger", trigger}};
    if (result == kPendingSeries) {
      pending_.Remove(&pending_.Add(labels));
    } else if (result == kConnectedSeries) {
      connected_.Remove(&connected_.Add(labels));
    } else if (result.empty()) {
      auto& h = fire_delay_.Add({{"namespace", ns}, {"function", function}, {"trigger", trigger}},
                                prometheus::Histogram::BucketBoundaries{});
      fire_delay_.Remove(&h);
    } else {
      events_.Remove(&events_.Add(
          {{"namespace", ns}, {"function", function}, {"trigger", trigger}, {"result", result}}));
    }
  }
}

}  // namespace zs::triggers
