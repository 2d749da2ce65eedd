// Cron schedules for scheduled triggers: the 5-field syntax and the @macros
// that Kubernetes CronJob accepts, evaluated in an IANA time zone the way
// CronJob's library (robfig/cron v3) does, daylight-saving gaps and repeats
// included (docs/triggers.md says what that means for a user).
//
// Parse() is also the C++ half of the CRD's verdict on `schedule.cron` and
// `schedule.timeZone` (common/api). Next() is pure: the caller passes the
// time, so tests use any instant and the firing loop its injected Clock.
//
// Thread-safety: a Schedule is immutable after Parse(); share it freely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"

namespace date {
class time_zone;
}

namespace zs::cron {

inline constexpr char kDefaultTimeZone[] = "UTC";

class Schedule {
 public:
  // `cron` is five space-separated fields (minute hour day-of-month
  // month day-of-week; numbers, names jan-dec/sun-sat, `*`, `?`, ranges
  // a-b, steps */n a-b/n a/n, lists) or one of @yearly @annually @monthly
  // @weekly @daily @midnight @hourly. `time_zone` is an IANA name; "" means
  // UTC. Errors are InvalidArgument with a sentence a user can act on.
  static absl::StatusOr<Schedule> Parse(std::string_view cron, std::string_view time_zone);

  // The first activation strictly after `after` (activations fall on whole
  // minutes), or nullopt when there is none within five years (e.g. "0 0 30 2 *").
  std::optional<SystemTime> Next(SystemTime after) const;

  const std::string& time_zone() const { return time_zone_; }

 private:
  uint64_t minute_ = 0, hour_ = 0, dom_ = 0, month_ = 0, dow_ = 0;
  const date::time_zone* zone_ = nullptr;
  std::string time_zone_;
};

// The syntax of `cron` alone (no time zone needed).
absl::Status ValidateCron(std::string_view cron);
// Whether `time_zone` names a zone of the IANA database on this machine.
absl::Status ValidateTimeZone(std::string_view time_zone);

}  // namespace zs::cron
