#include "activator/sources/proto_convert.h"

#include <algorithm>
#include <chrono>

#include "common/strings.h"

namespace zs::activator {

namespace pb = zeroscale::v1alpha1;

namespace {

void SetTimestamp(google::protobuf::Timestamp* out, SystemTime t) {
  const auto since_epoch = t.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  out->set_seconds(seconds.count());
  out->set_nanos(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count()));
}

SystemTime FromTimestamp(const google::protobuf::Timestamp& t) {
  return SystemTime{} + std::chrono::duration_cast<SystemTime::duration>(std::chrono::seconds(t.seconds()) +
                                                                         std::chrono::nanoseconds(t.nanos()));
}

}  // namespace

pb::StatsReport ToProto(const LoadReport& report) {
  pb::StatsReport out;
  out.set_activator_id(report.activator_id);
  SetTimestamp(out.mutable_window_end(), report.window_end);
  out.set_window_ms(
      static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(report.window).count()));
  for (const FunctionLoad& load : report.functions) {
    pb::FunctionLoad* f = out.add_functions();
    f->set_namespace_(load.key.ns);
    f->set_name(load.key.name);
    f->set_average_concurrency(load.average_concurrency);
    f->set_peak_concurrency(load.peak_concurrency);
    f->set_requests(load.requests);
    f->set_queued(load.queued);
    f->set_in_flight(load.in_flight);
    f->set_capped(load.capped);
    if (load.last_request_time) SetTimestamp(f->mutable_last_request_time(), *load.last_request_time);
  }
  return out;
}

LoadReport FromProto(const pb::StatsReport& report) {
  LoadReport out;
  out.activator_id = report.activator_id();
  out.window_end = FromTimestamp(report.window_end());
  out.window = std::chrono::milliseconds(report.window_ms());
  for (const pb::FunctionLoad& f : report.functions()) {
    FunctionLoad load;
    load.key = FunctionKey{f.namespace_(), f.name()};
    load.average_concurrency = f.average_concurrency();
    load.peak_concurrency = f.peak_concurrency();
    load.requests = f.requests();
    load.queued = f.queued();
    load.in_flight = f.in_flight();
    if (f.has_last_request_time()) load.last_request_time = FromTimestamp(f.last_request_time());
    out.functions.push_back(std::move(load));
  }
  return out;
}

absl::StatusOr<Placement::View> FromProto(const pb::Placement& placement) {
  constexpr int kMaxMembers = 1000;
  constexpr int kMaxBusy = 100'000;
  constexpr size_t kMaxText = 253;
  const auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(Cat("placement from the controller refused: ", what));
  };
  if (placement.activators_size() > kMaxMembers) return bad("too many activators");
  if (placement.lagging_size() > kMaxMembers) return bad("too many lagging activators");
  if (placement.busy_size() > kMaxBusy) return bad("too many busy Functions");
  Placement::View view;
  view.generation = placement.generation();
  std::vector<std::pair<std::string, std::string>> members;
  for (const pb::ActivatorPeer& peer : placement.activators()) {
    if (peer.id().empty() || peer.id().size() > kMaxText) return bad("activator id of bad length");
    if (peer.relay_address().empty() || peer.relay_address().size() > kMaxText ||
        peer.relay_address().find(':') == std::string::npos) {
      return bad(Cat("relay address \"", peer.relay_address(), "\" of ", peer.id()));
    }
    members.emplace_back(peer.id(), peer.relay_address());
  }
  std::sort(members.begin(), members.end());
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0 && members[i].first == members[i - 1].first)
      return bad(Cat("activator ", members[i].first, " twice"));
    view.ids.push_back(members[i].first);
    view.addresses.push_back(members[i].second);
  }
  for (const pb::Placement::Lagging& lagging : placement.lagging()) {
    if (lagging.activators_size() > kMaxMembers) return bad("too many activators in a lagging view");
    Placement::Lagging out;
    out.id = lagging.id();
    out.activators.assign(lagging.activators().begin(), lagging.activators().end());
    std::sort(out.activators.begin(), out.activators.end());
    view.lagging.push_back(std::move(out));
  }
  for (const std::string& function : placement.busy()) {
    if (function.size() > 2 * kMaxText) return bad("busy Function name too long");
    view.busy.insert(function);
  }
  return view;
}

pb::WakeRequest ToWakeRequest(const FunctionKey& key, const std::string& activator_id) {
  pb::WakeRequest out;
  out.set_namespace_(key.ns);
  out.set_name(key.name);
  out.set_activator_id(activator_id);
  return out;
}

absl::Status WakeResultToStatus(const pb::WakeResponse& response) {
  switch (response.result()) {
    case pb::WakeResponse::SCALED:
    case pb::WakeResponse::ALREADY_ACTIVE:
      return absl::OkStatus();
    case pb::WakeResponse::NOT_LEADER:
      return absl::UnavailableError("controller is not the leader");
    case pb::WakeResponse::NOT_FOUND:
      return absl::NotFoundError("controller does not know the function");
    default:
      return absl::UnknownError(Cat("unexpected wake result ", static_cast<int>(response.result())));
  }
}

}  // namespace zs::activator
