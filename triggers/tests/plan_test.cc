// PlanTicks as a table: which tick is due, how many are missed, when to look
// again, for every-minute schedules around a fixed instant.
#include "triggers/schedule/plan.h"

#include <gtest/gtest.h>

#include "common/time_format.h"

namespace zs::triggers {
namespace {

SystemTime At(const char* rfc3339) { return *ParseRfc3339(rfc3339); }
std::string Str(const std::optional<SystemTime>& t) { return t ? FormatRfc3339(*t) : "none"; }

struct Row {
  const char* what;
  const char* cron;
  const char* handled_through;
  std::optional<int32_t> deadline;
  const char* now;
  const char* due;
  int64_t missed;
  const char* last_missed;
  const char* next;
};

TEST(PlanTicks, Table) {
  const Row rows[] = {
      {"before the tick: nothing, look again at it", "* * * * *", "2026-05-01T10:00:00Z", std::nullopt,
       "2026-05-01T10:00:30Z", "none", 0, "none", "2026-05-01T10:01:00Z"},
      {"on the tick", "* * * * *", "2026-05-01T10:00:00Z", std::nullopt, "2026-05-01T10:01:00Z",
       "2026-05-01T10:01:00Z", 0, "none", "2026-05-01T10:02:00Z"},
      {"already handled", "* * * * *", "2026-05-01T10:01:00Z", std::nullopt, "2026-05-01T10:01:20Z", "none",
       0, "none", "2026-05-01T10:02:00Z"},
      {"no deadline: only the most recent fires (CronJob)", "* * * * *", "2026-05-01T10:00:00Z", std::nullopt,
       "2026-05-01T10:03:10Z", "2026-05-01T10:03:00Z", 2, "2026-05-01T10:02:00Z", "2026-05-01T10:04:00Z"},
      {"deadline covers all: the oldest fires first", "* * * * *", "2026-05-01T10:00:00Z", 150,
       "2026-05-01T10:03:10Z", "2026-05-01T10:01:00Z", 0, "none", "2026-05-01T10:04:00Z"},
      {"deadline covers two: the older one is missed", "* * * * *", "2026-05-01T10:00:00Z", 100,
       "2026-05-01T10:03:10Z", "2026-05-01T10:02:00Z", 1, "2026-05-01T10:01:00Z", "2026-05-01T10:04:00Z"},
      {"deadline covers none: all missed", "* * * * *", "2026-05-01T10:00:00Z", 5, "2026-05-01T10:03:10Z",
       "none", 3, "2026-05-01T10:03:00Z", "2026-05-01T10:04:00Z"},
      {"the deadline is inclusive", "* * * * *", "2026-05-01T10:00:00Z", 10, "2026-05-01T10:01:10Z",
       "2026-05-01T10:01:00Z", 0, "none", "2026-05-01T10:02:00Z"},
      {"daily in Paris, a day late with a day's deadline", "0 3 * * *", "2026-05-01T01:00:00Z", 86400,
       "2026-05-02T01:00:05Z", "2026-05-02T01:00:00Z", 0, "none", "2026-05-03T01:00:00Z"},
      {"a week behind a minute schedule: 1000 missed per pass", "* * * * *", "2026-05-01T00:00:00Z", 60,
       "2026-05-08T00:00:00Z", "none", kMaxTicksPerPlan, "2026-05-01T16:40:00Z", "2026-05-01T16:41:00Z"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    absl::StatusOr<cron::Schedule> s =
        cron::Schedule::Parse(r.cron, r.cron[0] == '0' ? "Europe/Paris" : "UTC");
    ASSERT_TRUE(s.ok()) << s.status();
    const TickPlan plan = PlanTicks(*s, {At(r.handled_through), r.deadline}, At(r.now));
    EXPECT_EQ(Str(plan.due), r.due);
    EXPECT_EQ(plan.missed, r.missed);
    EXPECT_EQ(Str(plan.last_missed), r.last_missed);
    EXPECT_EQ(Str(plan.next), r.next);
  }
}

}  // namespace
}  // namespace zs::triggers
