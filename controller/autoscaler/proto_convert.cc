#include "controller/autoscaler/proto_convert.h"

#include <algorithm>

namespace zs::autoscaler {

namespace pb = zeroscale::v1alpha1;

SystemTime FromProto(const google::protobuf::Timestamp& timestamp) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::seconds(timestamp.seconds()) + std::chrono::nanoseconds(timestamp.nanos())));
}

google::protobuf::Timestamp ToProto(SystemTime time) {
  const auto since = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch());
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since);
  google::protobuf::Timestamp out;
  out.set_seconds(seconds.count());
  out.set_nanos(static_cast<int32_t>((since - seconds).count()));
  return out;
}

FunctionLoad FromProto(const pb::FunctionLoad& load) {
  FunctionLoad out;
  out.function = {load.namespace_(), load.name()};
  // Negative or NaN figures from a confused peer must not steer scaling.
  auto sane = [](double v) { return v > 0 ? v : 0.0; };
  out.average_concurrency = sane(load.average_concurrency());
  out.peak_concurrency = sane(load.peak_concurrency());
  out.requests = load.requests();
  out.queued = load.queued();
  out.in_flight = load.in_flight();
  if (load.has_last_request_time()) out.last_request_time = FromProto(load.last_request_time());
  return out;
}

StatsReport FromProto(const pb::StatsReport& report) {
  StatsReport out;
  out.activator_id = report.activator_id();
  out.window_end = FromProto(report.window_end());
  out.window = std::chrono::milliseconds(report.window_ms() > 0 ? report.window_ms() : 1000);
  out.functions.reserve(report.functions_size());
  for (const auto& load : report.functions()) out.functions.push_back(FromProto(load));
  return out;
}

pb::StatsReport ToProto(const StatsReport& report) {
  pb::StatsReport out;
  out.set_activator_id(report.activator_id);
  *out.mutable_window_end() = ToProto(report.window_end);
  out.set_window_ms(
      static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(report.window).count()));
  for (const auto& load : report.functions) {
    pb::FunctionLoad* l = out.add_functions();
    l->set_namespace_(load.function.ns);
    l->set_name(load.function.name);
    l->set_average_concurrency(load.average_concurrency);
    l->set_peak_concurrency(load.peak_concurrency);
    l->set_requests(load.requests);
    l->set_queued(load.queued);
    l->set_in_flight(load.in_flight);
    if (load.last_request_time) *l->mutable_last_request_time() = ToProto(*load.last_request_time);
  }
  return out;
}

}  // namespace zs::autoscaler
