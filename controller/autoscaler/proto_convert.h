// The one place where the autoscaler's wire types (proto/zeroscale.proto)
// meet its domain types (types.h).
//
// Thread-safety: pure functions.
#pragma once

#include "controller/autoscaler/types.h"
#include "proto/zeroscale.pb.h"

namespace zs::autoscaler {

StatsReport FromProto(const zeroscale::v1alpha1::StatsReport& report);
FunctionLoad FromProto(const zeroscale::v1alpha1::FunctionLoad& load);
// Used by tests and by activator-side fakes.
zeroscale::v1alpha1::StatsReport ToProto(const StatsReport& report);

SystemTime FromProto(const google::protobuf::Timestamp& timestamp);
google::protobuf::Timestamp ToProto(SystemTime time);

}  // namespace zs::autoscaler
