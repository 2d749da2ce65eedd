#include "controller/autoscaler/proto_convert.h"

#include <cmath>
#include <string>

#include "common/strings.h"

namespace zs::autoscaler {

namespace pb = zeroscale::v1alpha1;

namespace {

// Empty when `value` is a finite number in [0, max]; else why not.
std::string CheckFigure(double value, double max) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "infinite" : "-infinite";
  if (value < 0) return Cat(value, " is negative");
  if (value > max) return Cat(value, " is above ", max);
  return "";
}

std::string CheckCount(uint64_t value, uint64_t max) {
  if (value > max) return Cat(value, " is above ", max);
  return "";
}

absl::Status Invalid(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(Cat(field, ": ", why));
}

std::string_view View(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace

absl::StatusOr<SystemTime> FromProto(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() < 0 || timestamp.seconds() > ReportLimits::kMaxTimestampSeconds) {
    return absl::InvalidArgumentError(
        Cat("seconds ", timestamp.seconds(), " outside [0, ", ReportLimits::kMaxTimestampSeconds, "]"));
  }
  if (timestamp.nanos() < 0 || timestamp.nanos() > 999'999'999) {
    return absl::InvalidArgumentError(Cat("nanos ", timestamp.nanos(), " outside [0, 999999999]"));
  }
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

absl::StatusOr<FunctionLoad> FromProto(const pb::FunctionLoad& load) {
  for (const auto& [field, value] :
       {std::pair<std::string_view, const std::string&>{"namespace", load.namespace_()},
        {"name", load.name()}}) {
    if (value.empty()) return Invalid(field, "empty");
    if (value.size() > ReportLimits::kMaxNameLength) {
      return Invalid(field, Cat(value.size(), " characters, above ", ReportLimits::kMaxNameLength));
    }
  }
  const struct {
    std::string_view field;
    std::string why;
  } checks[] = {
      {"average_concurrency", CheckFigure(load.average_concurrency(), ReportLimits::kMaxConcurrency)},
      {"peak_concurrency", CheckFigure(load.peak_concurrency(), ReportLimits::kMaxConcurrency)},
      {"requests", CheckCount(load.requests(), ReportLimits::kMaxRequests)},
      {"queued", CheckCount(load.queued(), ReportLimits::kMaxInFlightOrQueued)},
      {"in_flight", CheckCount(load.in_flight(), ReportLimits::kMaxInFlightOrQueued)},
  };
  for (const auto& check : checks) {
    if (!check.why.empty()) return Invalid(check.field, check.why);
  }
  FunctionLoad out;
  out.function = {load.namespace_(), load.name()};
  out.average_concurrency = load.average_concurrency();
  out.peak_concurrency = load.peak_concurrency();
  out.requests = load.requests();
  out.queued = load.queued();
  out.in_flight = load.in_flight();
  if (load.has_last_request_time()) {
    absl::StatusOr<SystemTime> time = FromProto(load.last_request_time());
    if (!time.ok()) return Invalid("last_request_time", View(time.status().message()));
    out.last_request_time = *time;
  }
  return out;
}

absl::StatusOr<StatsReport> FromProto(const pb::StatsReport& report) {
  StatsReport out;
  if (report.activator_id().empty()) return Invalid("activator_id", "empty");
  if (report.activator_id().size() > ReportLimits::kMaxActivatorIdLength) {
    return Invalid("activator_id", Cat(report.activator_id().size(), " characters, above ",
                                       ReportLimits::kMaxActivatorIdLength));
  }
  out.activator_id = report.activator_id();
  // The address other activators relay to: host:port, nothing else.
  if (!report.relay_address().empty()) {
    const std::string& address = report.relay_address();
    const size_t colon = address.rfind(':');
    const bool port_ok =
        colon != std::string::npos && colon + 1 < address.size() && address.size() - colon - 1 <= 5 &&
        address.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
        std::stoi(address.substr(colon + 1)) > 0 && std::stoi(address.substr(colon + 1)) < 65536;
    const bool host_ok = colon > 0 && address.size() <= ReportLimits::kMaxActivatorIdLength &&
                         address.find_first_of(" /?#@\r\n\t") == std::string::npos;
    if (!port_ok || !host_ok) return Invalid("relay_address", Cat("\"", address, "\" is not host:port"));
  }
  if (report.has_window_end()) {
    absl::StatusOr<SystemTime> end = FromProto(report.window_end());
    if (!end.ok()) return Invalid("window_end", View(end.status().message()));
    out.window_end = *end;
  }
  if (report.window_ms() > ReportLimits::kMaxWindowMs) {
    return Invalid("window_ms", CheckCount(report.window_ms(), ReportLimits::kMaxWindowMs));
  }
  out.window = std::chrono::milliseconds(report.window_ms() > 0 ? report.window_ms() : 1000);
  if (report.functions_size() > ReportLimits::kMaxFunctions) {
    return Invalid("functions",
                   Cat(report.functions_size(), " entries, above ", ReportLimits::kMaxFunctions));
  }
  out.functions.reserve(report.functions_size());
  for (int i = 0; i < report.functions_size(); ++i) {
    const pb::FunctionLoad& load = report.functions(i);
    absl::StatusOr<FunctionLoad> converted = FromProto(load);
    if (!converted.ok()) {
      return absl::InvalidArgumentError(Cat("functions[", i, "] (", load.namespace_(), "/", load.name(), ").",
                                            View(converted.status().message())));
    }
    out.functions.push_back(*std::move(converted));
  }
  return out;
}

pb::StatsReport ToProto(const StatsReport& report) {
  pb::StatsReport out;
  out.set_activator_id(report.activator_id);
  if (report.window_end) *out.mutable_window_end() = ToProto(*report.window_end);
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
