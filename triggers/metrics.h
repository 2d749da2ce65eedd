// Every metric zeroscale-triggers exports, declared in one place. Names are
// the documented ones (docs/metrics-and-billing.md).
//
// Thread-safety: safe from any thread (prometheus-cpp metrics are, and the
// series bookkeeping is under a mutex).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace zs::triggers {

struct TriggerId {
  std::string ns;
  std::string function;
  std::string trigger;
  auto operator<=>(const TriggerId&) const = default;
};

class TriggerMetrics {
 public:
  TriggerMetrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // result: success, failure, replaced, missed, interrupted (schedules);
  // success, failure, dead_lettered (brokers)
  void CountEvent(const TriggerId& id, const std::string& result, double count = 1);
  // Seconds from a tick's scheduled time to its request being sent.
  void ObserveFireDelay(const TriggerId& id, double seconds);
  // result: ok, conflict, error
  void CountStatusWrite(const std::string& result);
  // Broker triggers: the backlog (undelivered + unacknowledged) and whether
  // this replica's consumer is connected.
  void SetPending(const TriggerId& id, double messages);
  void SetConnected(const TriggerId& id, bool connected);
  void SetLeader(bool leader);
  // Drops every series of a Function that no longer exists.
  void RemoveFunction(const std::string& ns, const std::string& function);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Histogram>& fire_delay_;
  prometheus::Family<prometheus::Counter>& status_writes_;
  prometheus::Family<prometheus::Gauge>& pending_;
  prometheus::Family<prometheus::Gauge>& connected_;
  prometheus::Gauge& leader_;
  std::mutex mu_;
  // Series created per Function, so that deletion can drop them.
  std::map<std::pair<std::string, std::string>, std::set<std::pair<std::string, std::string>>> series_;
};

}  // namespace zs::triggers
