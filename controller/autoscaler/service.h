// AutoscalerService: the controller's side of proto/zeroscale.proto.
//
// - StreamStats: one stream per activator; each report goes to the
//   StatsAggregator and is acknowledged with leader=true. When this process
//   is not the leader it answers leader=false and ends the stream (the
//   activator looks the leader up again).
// - Wake: records a request arrival (so the next decision cannot see the
//   Function as idle, whatever the samples say yet) and asks the Scaler to
//   scale from zero; NOT_LEADER when not the leader; NOT_FOUND, with nothing
//   recorded or scaled, for a name the StatsAggregator does not know.
//
// - A report with any figure out of range is refused whole (counted, logged
//   once per stream), and the stream goes on.
//
// Placement (optional): every valid report also goes to the PlacementBoard,
// and its answer rides on the ack; a stream's end is the activator leaving.
//
// Authentication (optional): `authenticate` sees every call's metadata first
// (see authenticator.h); a call it refuses gets its status, with nothing read,
// recorded or scaled, and is counted (hooks.on_refused).
//
// Hooks (optional) observe every report ingested or refused and every Wake's result
// (scaled, already_active, not_leader, not_found, invalid, error): the
// controller counts them in its metrics.
//
// Lifecycle: register with a grpc::ServerBuilder; outlives the server.
// Thread-safety: gRPC calls it from many threads; it holds no state of its
// own beyond the thread-safe parts it was given.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "controller/autoscaler/placement_board.h"
#include "controller/autoscaler/scaler.h"
#include "controller/autoscaler/stats_aggregator.h"
#include "proto/zeroscale.grpc.pb.h"

namespace zs::autoscaler {

class AutoscalerService final : public zeroscale::v1alpha1::Autoscaler::Service {
 public:
  struct Hooks {
    std::function<void()> on_report;
    std::function<void(const std::string& result)> on_wake;
    // A report refused by the range checks of proto_convert.h.
    std::function<void()> on_rejected_report;
    // A call refused by `authenticate`: "unauthenticated", "permission_denied"
    // or "unavailable" (the review could not be made).
    std::function<void(const std::string& reason)> on_refused;
  };
  using Authenticate = std::function<grpc::Status(const grpc::ServerContext&)>;
  AutoscalerService(StatsAggregator& stats, Scaler& scaler, std::function<bool()> is_leader, Hooks hooks = {},
                    Authenticate authenticate = {}, PlacementBoard* placement = nullptr);

  grpc::Status StreamStats(grpc::ServerContext* context,
                           grpc::ServerReaderWriter<zeroscale::v1alpha1::StatsAck,
                                                    zeroscale::v1alpha1::StatsReport>* stream) override;
  grpc::Status Wake(grpc::ServerContext* context, const zeroscale::v1alpha1::WakeRequest* request,
                    zeroscale::v1alpha1::WakeResponse* response) override;

 private:
  StatsAggregator& stats_;
  Scaler& scaler_;
  std::function<bool()> is_leader_;
  Hooks hooks_;
  Authenticate authenticate_;
  PlacementBoard* placement_;
  std::atomic<uint64_t> next_stream_{1};
  grpc::Status Authorize(const grpc::ServerContext& context) const;

  void Count(const std::string& wake_result) const {
    if (hooks_.on_wake) hooks_.on_wake(wake_result);
  }
};

}  // namespace zs::autoscaler
