// Scheduler: fires the schedule triggers of every Function, each tick once
// across all replicas and across failovers (docs/triggers.md).
//
// Only the holder of the triggers Lease runs it. Each tick is claimed before
// it is sent: the claim is a merge patch of status.triggers carrying the
// Function's resourceVersion, so it succeeds for exactly one writer; a
// conflict means someone else wrote the Function, and the pass reads it
// again and re-plans from what is there. A new leader therefore never sends
// a tick that was claimed, and fires a tick nobody claimed as long as it is
// within startingDeadlineSeconds. A tick claimed by a process that died
// before recording its outcome is counted `interrupted`, not sent again
// (CronJob also never starts a second Job for a tick).
//
// Lifecycle: construct, Run() on a thread of its own while leading (or call
// Pass() from a test), Drain() before the process lets the Lease go.
// Thread-safety: Pass/Run/Drain from one thread at a time; invocation
// callbacks arrive on the invoker's threads and only touch state under mu_.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/api/function.h"
#include "common/clock.h"
#include "common/cron/cron.h"
#include "common/kube/client.h"
#include "triggers/invoker.h"
#include "triggers/metrics.h"

namespace zs::triggers {

class Scheduler {
 public:
  struct Options {
    std::string activator_url;
    // Written as activeHolder next to each claimed tick.
    std::string identity;
    std::string field_manager = "zeroscale-triggers";
    // Longest sleep between passes (outcomes are recorded at the next pass).
    Duration poll = std::chrono::seconds(1);
    int max_write_attempts = 5;
  };
  using ListFunctions = std::function<std::vector<nlohmann::json>()>;

  Scheduler(kube::KubeClient& client, Clock& clock, Invoker& invoker, TriggerMetrics& metrics,
            ListFunctions list_functions, Options options);

  // One pass over every Function: records finished invocations, counts
  // interrupted and missed ticks, claims and sends due ones. Returns when
  // the next pass is needed.
  SystemTime Pass();
  // Passes until `stop` is requested.
  void Run(const std::stop_token& stop);
  // Stops claiming, waits up to `timeout` for invocations in flight, cancels
  // the rest and records every outcome it can.
  void Drain(Duration timeout);
  // Invocations started and not yet recorded in status.
  int InFlight() const;

 private:
  struct Active {
    std::string tick;  // RFC 3339, as in status
    SystemTime tick_time;
    std::shared_ptr<InvocationHandle> handle;
    std::optional<InvocationResult> result;  // under mu_
    bool replaced = false;                   // under mu_
  };
  struct Effects;

  // Plans one Function from `object`; returns whether a write is needed.
  bool Plan(const nlohmann::json& object, const api::Function& fn, SystemTime now, bool claim,
            std::vector<api::TriggerStatus>* entries, Effects* effects, SystemTime* next);
  void ProcessFunction(const nlohmann::json& cached, SystemTime now, bool claim, SystemTime* next);
  void Apply(const api::Function& fn, Effects& effects);
  void Fire(const api::Function& fn, const api::TriggerSpec& trigger, const std::shared_ptr<Active>& active);
  const cron::Schedule* ScheduleOf(const api::ScheduleSource& source);
  SystemTime PassInternal(bool claim);

  kube::KubeClient& client_;
  Clock& clock_;
  Invoker& invoker_;
  TriggerMetrics& metrics_;
  ListFunctions list_functions_;
  Options options_;

  mutable std::mutex mu_;
  std::map<TriggerId, std::vector<std::shared_ptr<Active>>> active_;  // under mu_
  std::map<std::pair<std::string, std::string>, cron::Schedule> schedules_;
  std::set<std::pair<std::string, std::string>> known_functions_;
};

}  // namespace zs::triggers
