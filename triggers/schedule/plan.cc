#include "triggers/schedule/plan.h"

#include <vector>

namespace zs::triggers {

TickPlan PlanTicks(const cron::Schedule& schedule, const TickCursor& cursor, SystemTime now) {
  TickPlan plan;
  // Ticks in (handled_through, now], oldest first.
  std::vector<SystemTime> ticks;
  std::optional<SystemTime> t = schedule.Next(cursor.handled_through);
  while (t && *t <= now && static_cast<int>(ticks.size()) < kMaxTicksPerPlan) {
    ticks.push_back(*t);
    t = schedule.Next(*t);
  }
  const bool truncated = t && *t <= now;
  // The first tick not walked: after now, or (truncated) one still behind.
  plan.next = t;
  if (ticks.empty()) return plan;
  size_t first_eligible = ticks.size();
  if (!truncated) {
    if (cursor.starting_deadline_seconds) {
      const SystemTime oldest_allowed = now - std::chrono::seconds(*cursor.starting_deadline_seconds);
      for (size_t i = 0; i < ticks.size(); ++i) {
        if (ticks[i] >= oldest_allowed) {
          first_eligible = i;
          break;
        }
      }
    } else {
      first_eligible = ticks.size() - 1;  // CronJob: only the most recent
    }
  }
  plan.missed = static_cast<int64_t>(first_eligible);
  if (first_eligible > 0) plan.last_missed = ticks[first_eligible - 1];
  if (first_eligible < ticks.size()) plan.due = ticks[first_eligible];
  return plan;
}

}  // namespace zs::triggers
