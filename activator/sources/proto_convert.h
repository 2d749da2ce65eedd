// The one place where protobuf meets the activator's domain types
// (protobuf stays at the edge): load reports out, wake requests out, wake results in.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "activator/admission/function_config.h"
#include "activator/admission/placement.h"
#include "activator/metering/load_tracker.h"
#include "proto/zeroscale.pb.h"

namespace zs::activator {

zeroscale::v1alpha1::StatsReport ToProto(const LoadReport& report);
// The inverse, for tests and tools.
LoadReport FromProto(const zeroscale::v1alpha1::StatsReport& report);

// A placement from a stats ack, range-checked (at most 1,000 members and
// 100,000 busy Functions; ids and addresses of sane length; no duplicate
// member); members sorted by id.
absl::StatusOr<Placement::View> FromProto(const zeroscale::v1alpha1::Placement& placement);

zeroscale::v1alpha1::WakeRequest ToWakeRequest(const FunctionKey& key, const std::string& activator_id);
// SCALED and ALREADY_ACTIVE are success; NOT_LEADER is Unavailable (retry
// against the leader), NOT_FOUND is NotFound, anything else Unknown.
absl::Status WakeResultToStatus(const zeroscale::v1alpha1::WakeResponse& response);

}  // namespace zs::activator
