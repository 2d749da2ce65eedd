#include "triggers/schedule/scheduler.h"

#include <algorithm>

#include "common/kube/errors.h"
#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_format.h"
#include "triggers/schedule/plan.h"

namespace zs::triggers {

using nlohmann::json;

struct Scheduler::Effects {
  struct Fire {
    const api::TriggerSpec* trigger;
    std::shared_ptr<Active> active;
  };
  std::vector<Fire> fires;
  // Finished invocations whose outcome the write records, with their result label.
  std::vector<std::pair<TriggerId, std::shared_ptr<Active>>> recorded;
  std::vector<std::pair<TriggerId, int64_t>> missed;
  std::vector<TriggerId> interrupted;
};

namespace {

std::string ResultLabel(const InvocationResult& r, bool replaced) {
  if (replaced && r.cancelled) return "replaced";
  return r.status >= 200 && r.status < 300 ? "success" : "failure";
}

SystemTime Later(SystemTime a, const std::optional<std::string>& rfc3339) {
  if (!rfc3339) return a;
  std::optional<SystemTime> t = ParseRfc3339(*rfc3339);
  return t && *t > a ? *t : a;
}

}  // namespace

Scheduler::Scheduler(kube::KubeClient& client, Clock& clock, Invoker& invoker, TriggerMetrics& metrics,
                     ListFunctions list_functions, Options options)
    : client_(client),
      clock_(clock),
      invoker_(invoker),
      metrics_(metrics),
      list_functions_(std::move(list_functions)),
      options_(std::move(options)) {}

const cron::Schedule* Scheduler::ScheduleOf(const api::ScheduleSource& source) {
  const std::pair<std::string, std::string> key{source.cron, source.time_zone};
  auto it = schedules_.find(key);
  if (it == schedules_.end()) {
    absl::StatusOr<cron::Schedule> parsed = cron::Schedule::Parse(source.cron, source.time_zone);
    if (!parsed.ok()) return nullptr;  // ValidateFunction refused it already
    it = schedules_.emplace(key, *std::move(parsed)).first;
  }
  return &it->second;
}

int Scheduler::InFlight() const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [id, list] : active_) n += static_cast<int>(list.size());
  return n;
}

bool Scheduler::Plan(const json& object, const api::Function& fn, SystemTime now, bool claim,
                     std::vector<api::TriggerStatus>* entries, Effects* effects, SystemTime* next) {
  const std::vector<api::TriggerStatus> old_entries =
      api::DecodeTriggerStatuses(object.value("status", json()));
  bool changed = false;
  entries->clear();
  for (const api::TriggerSpec& trigger : fn.spec.triggers) {
    auto old = std::find_if(old_entries.begin(), old_entries.end(),
                            [&](const api::TriggerStatus& s) { return s.name == trigger.name; });
    if (!trigger.schedule) {
      // A broker trigger's entry belongs to its consumers: carried as it is.
      if (old != old_entries.end()) entries->push_back(*old);
      continue;
    }
    const cron::Schedule* schedule = ScheduleOf(*trigger.schedule);
    if (schedule == nullptr) continue;
    const TriggerId id{fn.metadata.namespace_, fn.metadata.name, trigger.name};
    api::TriggerStatus entry;
    entry.name = trigger.name;
    if (old != old_entries.end()) entry = *old;
    if (!entry.start_time) {
      entry.start_time = FormatRfc3339(now);
      changed = true;
    }

    int in_flight = 0;
    bool active_tick_held = false;
    {
      std::lock_guard lock(mu_);
      for (const std::shared_ptr<Active>& a : active_[id]) {
        if (entry.active_tick == a->tick) active_tick_held = true;
        if (!a->result) {
          ++in_flight;
          continue;
        }
        const std::string label = ResultLabel(*a->result, a->replaced);
        if (label == "success") {
          ++entry.succeeded;
          if (Later(a->tick_time, entry.last_successful_time) == a->tick_time)
            entry.last_successful_time = a->tick;
        } else {
          ++entry.failed;
        }
        if (entry.active_tick == a->tick) {
          entry.active_tick.reset();
          entry.active_holder.clear();
        }
        effects->recorded.emplace_back(id, a);
        changed = true;
      }
    }
    if (entry.active_tick && !active_tick_held) {
      // Claimed by a process that is gone (or by this one, whose claim write
      // timed out on its side): never sent twice.
      ++entry.interrupted;
      entry.active_tick.reset();
      entry.active_holder.clear();
      effects->interrupted.push_back(id);
      changed = true;
    }

    SystemTime handled = SystemTime{};
    handled = Later(handled, entry.start_time);
    handled = Later(handled, entry.last_schedule_time);
    handled = Later(handled, entry.last_missed_time);
    const TickPlan plan = PlanTicks(*schedule, {handled, trigger.schedule->starting_deadline_seconds}, now);
    if (plan.missed > 0) {
      entry.missed += plan.missed;
      entry.last_missed_time = FormatRfc3339(*plan.last_missed);
      effects->missed.emplace_back(id, plan.missed);
      changed = true;
    }
    if (plan.next && *plan.next < *next) *next = *plan.next;
    if (plan.due && claim) {
      const std::string& policy = trigger.schedule->concurrency_policy;
      if (policy == "Forbid" && in_flight > 0) {
        // Held: it fires when the running one ends, unless it is missed first.
      } else {
        auto active = std::make_shared<Active>();
        active->tick = FormatRfc3339(*plan.due);
        active->tick_time = *plan.due;
        ++entry.fired;
        entry.last_schedule_time = active->tick;
        entry.active_tick = active->tick;
        entry.active_holder = options_.identity;
        effects->fires.push_back({&trigger, std::move(active)});
        changed = true;
        *next = now;  // more may be due (catch-up): pass again at once
      }
    }
    entries->push_back(std::move(entry));
  }
  // Entries of triggers removed from the spec go.
  if (!changed && entries->size() != old_entries.size()) changed = true;
  return changed;
}

void Scheduler::Fire(const api::Function& fn, const api::TriggerSpec& trigger,
                     const std::shared_ptr<Active>& active) {
  const TriggerId id{fn.metadata.namespace_, fn.metadata.name, trigger.name};
  const bool replace = trigger.schedule->concurrency_policy == "Replace";
  {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<Active>>& list = active_[id];
    if (replace) {
      for (const std::shared_ptr<Active>& a : list) {
        if (!a->result && a->handle) {
          a->replaced = true;
          a->handle->Cancel();
        }
      }
    }
    list.push_back(active);
  }
  Invocation inv;
  inv.url = Cat(options_.activator_url, "/fn/", fn.metadata.namespace_, "/", fn.metadata.name,
                trigger.request.path);
  inv.method = trigger.request.method;
  inv.headers = trigger.request.headers;
  inv.headers.emplace_back("X-Zeroscale-Trigger", trigger.name);
  inv.headers.emplace_back("X-Zeroscale-Schedule-Time", active->tick);
  // The same id for the same tick, whoever sends it: a Function that must
  // not act twice can key on it.
  inv.headers.emplace_back(
      "X-Request-Id",
      Cat("trigger-", fn.metadata.namespace_, "-", fn.metadata.name, "-", trigger.name, "-",
          std::chrono::duration_cast<std::chrono::seconds>(active->tick_time.time_since_epoch()).count()));
  inv.body = trigger.request.body;
  inv.timeout = std::chrono::seconds(fn.spec.buffer.timeout_seconds + fn.spec.timeout_seconds + 5);
  metrics_.ObserveFireDelay(id, ToSeconds(clock_.WallNow() - active->tick_time));
  log::Info(
      "firing",
      {{"namespace", id.ns}, {"function", id.function}, {"trigger", id.trigger}, {"tick", active->tick}});
  std::weak_ptr<Active> weak = active;
  active->handle = invoker_.Start(std::move(inv), [this, weak](const InvocationResult& result) {
    std::lock_guard lock(mu_);
    if (std::shared_ptr<Active> a = weak.lock()) a->result = result;
  });
}

void Scheduler::Apply(const api::Function& fn, Effects& effects) {
  for (const auto& [id, n] : effects.missed) {
    metrics_.CountEvent(id, "missed", static_cast<double>(n));
    log::Warn("ticks missed",
              {{"namespace", id.ns}, {"function", id.function}, {"trigger", id.trigger}, {"count", n}});
  }
  for (const TriggerId& id : effects.interrupted) metrics_.CountEvent(id, "interrupted");
  for (const auto& [id, a] : effects.recorded) {
    std::string label;
    {
      std::lock_guard lock(mu_);
      label = ResultLabel(*a->result, a->replaced);
      std::vector<std::shared_ptr<Active>>& list = active_[id];
      list.erase(std::remove(list.begin(), list.end(), a), list.end());
      if (list.empty()) active_.erase(id);
    }
    metrics_.CountEvent(id, label);
  }
  for (const Effects::Fire& f : effects.fires) Fire(fn, *f.trigger, f.active);
}

void Scheduler::ProcessFunction(const json& cached, SystemTime now, bool claim, SystemTime* next) {
  absl::StatusOr<api::Function> fn = api::DecodeFunction(cached);
  if (!fn.ok() || !api::ValidateFunction(*fn).ok()) return;
  std::vector<api::TriggerStatus> entries;
  Effects effects;
  SystemTime ignored = *next;
  // The cached copy may lag our own writes: it only says whether to look.
  if (!Plan(cached, *fn, now, claim, &entries, &effects, next)) return;
  const kube::ResourceRef ref = kube::FunctionRef(fn->metadata.namespace_, fn->metadata.name);
  for (int attempt = 0; attempt < options_.max_write_attempts; ++attempt) {
    absl::StatusOr<json> fresh = client_.Get(ref);
    if (!fresh.ok()) {
      if (!kube::IsNotFound(fresh.status())) {
        log::Warn("reading Function",
                  {{"function", ref.name}, {"error", std::string(fresh.status().message())}});
      }
      return;
    }
    absl::StatusOr<api::Function> fresh_fn = api::DecodeFunction(*fresh);
    if (!fresh_fn.ok() || !api::ValidateFunction(*fresh_fn).ok()) return;
    effects = Effects{};
    if (!Plan(*fresh, *fresh_fn, now, claim, &entries, &effects, &ignored)) return;
    const json patch = {
        {"metadata", {{"resourceVersion", (*fresh)["metadata"].value("resourceVersion", "")}}},
        {"status", {{"triggers", api::EncodeTriggerStatuses(entries)}}}};
    absl::StatusOr<json> written = client_.PatchStatus(ref, patch, {options_.field_manager});
    if (written.ok()) {
      metrics_.CountStatusWrite("ok");
      Apply(*fresh_fn, effects);
      return;
    }
    if (kube::IsConflict(written.status())) {
      metrics_.CountStatusWrite("conflict");
      continue;
    }
    metrics_.CountStatusWrite("error");
    log::Warn("writing trigger status",
              {{"function", ref.name}, {"error", std::string(written.status().message())}});
    *next = std::min(*next, now);  // nothing claimed; try again next pass
    return;
  }
}

SystemTime Scheduler::PassInternal(bool claim) {
  const SystemTime now = clock_.WallNow();
  SystemTime next = now + options_.poll;
  std::set<std::pair<std::string, std::string>> seen;
  for (const json& object : list_functions_()) {
    const json& meta = object.value("metadata", json::object());
    seen.insert({meta.value("namespace", ""), meta.value("name", "")});
    ProcessFunction(object, now, claim, &next);
  }
  // Per-Function state lives and dies with the Function.
  for (const auto& key : known_functions_) {
    if (!seen.contains(key)) {
      metrics_.RemoveFunction(key.first, key.second);
      std::lock_guard lock(mu_);
      std::erase_if(active_, [&](const auto& kv) {
        return kv.first.ns == key.first && kv.first.function == key.second &&
               std::all_of(kv.second.begin(), kv.second.end(),
                           [](const auto& a) { return a->result.has_value(); });
      });
    }
  }
  known_functions_ = std::move(seen);
  return next;
}

SystemTime Scheduler::Pass() { return PassInternal(true); }

void Scheduler::Run(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    const SystemTime next = Pass();
    const Duration wait = std::clamp<Duration>(next - clock_.WallNow(), Duration::zero(), options_.poll);
    if (wait > Duration::zero()) clock_.SleepFor(wait);
  }
}

void Scheduler::Drain(Duration timeout) {
  const MonotonicTime deadline = clock_.Now() + timeout;
  auto running = [this] {
    std::lock_guard lock(mu_);
    for (const auto& [id, list] : active_) {
      for (const auto& a : list) {
        if (!a->result) return true;
      }
    }
    return false;
  };
  while (running() && clock_.Now() < deadline) {
    PassInternal(false);
    clock_.SleepFor(std::chrono::milliseconds(100));
  }
  {
    std::lock_guard lock(mu_);
    for (auto& [id, list] : active_) {
      for (auto& a : list) {
        if (!a->result && a->handle) a->handle->Cancel();
      }
    }
  }
  // Cancelled requests end promptly; record what can be recorded.
  const MonotonicTime cancel_deadline = clock_.Now() + std::chrono::seconds(2);
  while (running() && clock_.Now() < cancel_deadline) clock_.SleepFor(std::chrono::milliseconds(50));
  PassInternal(false);
}

}  // namespace zs::triggers
