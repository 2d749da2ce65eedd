// The one place where the autoscaler's wire types (proto/zeroscale.proto)
// meet its domain types (types.h), and where every number an activator
// sends is range-checked before anything converts or adds it.
//
// A report with any figure out of range (NaN, infinite, negative, above the
// limits below, a timestamp no clock can hold, a missing name) is refused
// whole: the activator is confused, and a guess from its other figures could
// scale something down under load. Its previous report stands until the
// next good one or until it expires (StatsAggregator). README.md lists the
// limits and why.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "controller/autoscaler/types.h"
#include "proto/zeroscale.pb.h"

namespace zs::autoscaler {

// Upper bounds of a report's figures: far above anything real (an activator
// holds at most a few hundred thousand connections; a Function asks for at
// most 1000 replicas x 10000 target concurrency), far below what the
// arithmetic downstream (sums over activators, ceil(x / target) into an
// int64) could overflow on.
struct ReportLimits {
  static constexpr double kMaxConcurrency = 1e7;
  static constexpr uint64_t kMaxInFlightOrQueued = 10'000'000;
  static constexpr uint64_t kMaxRequests = 1'000'000'000;
  // window_ms: 0 means the nominal 1 s; above a minute is not a report window.
  static constexpr uint32_t kMaxWindowMs = 60'000;
  static constexpr int kMaxFunctions = 100'000;
  // Seconds since the epoch that a nanosecond SystemTime can hold (to 2255);
  // earlier than the epoch is refused too.
  static constexpr int64_t kMaxTimestampSeconds = 9'000'000'000;
  // Namespace and Function names are DNS labels; the activator id a pod name.
  static constexpr size_t kMaxNameLength = 63;
  static constexpr size_t kMaxActivatorIdLength = 253;
};

// InvalidArgument naming the first bad field, e.g.
// "functions[2] (team-a/judge).average_concurrency: NaN".
absl::StatusOr<StatsReport> FromProto(const zeroscale::v1alpha1::StatsReport& report);
absl::StatusOr<FunctionLoad> FromProto(const zeroscale::v1alpha1::FunctionLoad& load);
absl::StatusOr<SystemTime> FromProto(const google::protobuf::Timestamp& timestamp);

// Used by tests and by activator-side fakes.
zeroscale::v1alpha1::StatsReport ToProto(const StatsReport& report);
google::protobuf::Timestamp ToProto(SystemTime time);

}  // namespace zs::autoscaler
