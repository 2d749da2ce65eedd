// What a schedule trigger should do now: a pure function of the schedule,
// the trigger's recorded state and the time (as the autoscaler's decide()),
// so that missed ticks, deadlines and catch-up are table-tested on any
// instant without a clock or an apiserver.
#pragma once

#include <cstdint>
#include <optional>

#include "common/clock.h"
#include "common/cron/cron.h"

namespace zs::triggers {

// The most ticks one plan walks; a trigger further behind than that (a
// minute schedule after a week down) skips them in several passes.
inline constexpr int kMaxTicksPerPlan = 1000;

struct TickCursor {
  // The latest of startTime, lastScheduleTime and lastMissedTime: every
  // tick at or before it has been handled (fired, or counted as missed).
  SystemTime handled_through;
  // spec startingDeadlineSeconds; unset: only the most recent tick may fire.
  std::optional<int32_t> starting_deadline_seconds;
};

struct TickPlan {
  // The oldest tick that may still fire, if any.
  std::optional<SystemTime> due;
  // Ticks after handled_through (and before `due`) that may no longer fire,
  // and the latest of them.
  int64_t missed = 0;
  std::optional<SystemTime> last_missed;
  // The first tick not walked yet: after now, or at or before it when the
  // walk stopped at kMaxTicksPerPlan (look again at once). None: never again.
  std::optional<SystemTime> next;
};

TickPlan PlanTicks(const cron::Schedule& schedule, const TickCursor& cursor, SystemTime now);

}  // namespace zs::triggers
