#include "controller/autoscaler/service.h"

#include <string>

#include "common/log.h"
#include "common/strings.h"
#include "controller/autoscaler/proto_convert.h"

namespace zs::autoscaler {

namespace pb = zeroscale::v1alpha1;

AutoscalerService::AutoscalerService(StatsAggregator& stats, Scaler& scaler, std::function<bool()> is_leader,
                                     Hooks hooks, Authenticate authenticate, PlacementBoard* placement)
    : stats_(stats),
      scaler_(scaler),
      is_leader_(std::move(is_leader)),
      hooks_(std::move(hooks)),
      authenticate_(std::move(authenticate)),
      placement_(placement) {}

grpc::Status AutoscalerService::Authorize(const grpc::ServerContext& context) const {
  if (!authenticate_) return grpc::Status::OK;
  grpc::Status status = authenticate_(context);
  if (!status.ok() && hooks_.on_refused) {
    switch (status.error_code()) {
      case grpc::StatusCode::UNAUTHENTICATED:
        hooks_.on_refused("unauthenticated");
        break;
      case grpc::StatusCode::PERMISSION_DENIED:
        hooks_.on_refused("permission_denied");
        break;
      default:
        hooks_.on_refused("unavailable");
        break;
    }
  }
  return status;
}

grpc::Status AutoscalerService::StreamStats(grpc::ServerContext* context,
                                            grpc::ServerReaderWriter<pb::StatsAck, pb::StatsReport>* stream) {
  if (grpc::Status refused = Authorize(*context); !refused.ok()) return refused;
  pb::StatsReport report;
  bool warned = false;
  const uint64_t serial = next_stream_.fetch_add(1);
  struct Leave {
    PlacementBoard* board;
    uint64_t serial;
    ~Leave() {
      if (board != nullptr) board->OnStreamEnded(serial);
    }
  } leave{placement_, serial};
  while (stream->Read(&report)) {
    pb::StatsAck ack;
    if (!is_leader_()) {
      ack.set_leader(false);
      stream->Write(ack);
      return grpc::Status::OK;
    }
    absl::StatusOr<StatsReport> converted = FromProto(report);
    if (converted.ok()) {
      stats_.Ingest(*converted);
      if (hooks_.on_report) hooks_.on_report();
      if (placement_ != nullptr) {
        if (auto placement = placement_->OnReport(serial, report))
          *ack.mutable_placement() = std::move(*placement);
      }
    } else {
      // Refused whole and counted; the stream goes on (the next report may
      // be sane). Logged once per stream: a broken activator sends one a second.
      if (hooks_.on_rejected_report) hooks_.on_rejected_report();
      if (!warned) {
        log::Warn("refused an activator's load report",
                  {{"activator", report.activator_id()}, {"error", Message(converted.status())}});
        warned = true;
      }
    }
    ack.set_leader(true);
    if (!stream->Write(ack)) break;
  }
  return grpc::Status::OK;
}

grpc::Status AutoscalerService::Wake(grpc::ServerContext* context, const pb::WakeRequest* request,
                                     pb::WakeResponse* response) {
  if (grpc::Status refused = Authorize(*context); !refused.ok()) return refused;
  if (!is_leader_()) {
    response->set_result(pb::WakeResponse::NOT_LEADER);
    Count("not_leader");
    return grpc::Status::OK;
  }
  if (request->namespace_().empty() || request->name().empty()) {
    Count("invalid");
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "namespace and name are required");
  }
  const FunctionKey key{request->namespace_(), request->name()};
  // Before scaling: a decision taken between the patch and the activator's
  // next report must not see an idle Function and undo the wake-up. A name
  // the aggregator does not know is no Function: nothing is recorded and
  // nothing scaled.
  if (!stats_.NoteRequest(key)) {
    response->set_result(pb::WakeResponse::NOT_FOUND);
    Count("not_found");
    return grpc::Status::OK;
  }
  absl::StatusOr<int> previous = scaler_.ScaleFromZero(key.ns, key.name);
  if (!previous.ok()) {
    if (absl::IsNotFound(previous.status())) {
      response->set_result(pb::WakeResponse::NOT_FOUND);
      Count("not_found");
      return grpc::Status::OK;
    }
    log::Warn("wake failed", {{"function", key.String()},
                              {"activator", request->activator_id()},
                              {"error", std::string(previous.status().message())}});
    Count("error");
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(previous.status().message()));
  }
  if (*previous == 0) {
    response->set_result(pb::WakeResponse::SCALED);
    response->set_desired_replicas(1);
    Count("scaled");
    log::Info("woke function", {{"function", key.String()}, {"activator", request->activator_id()}});
  } else {
    response->set_result(pb::WakeResponse::ALREADY_ACTIVE);
    response->set_desired_replicas(*previous);
    Count("already_active");
  }
  return grpc::Status::OK;
}

}  // namespace zs::autoscaler
