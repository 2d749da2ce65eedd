// Every metric the controller exports, declared in one place. Names are
// the documented ones (docs/metrics-and-billing.md).
//
// Thread-safety: prometheus-cpp metrics are safe from any thread.
#pragma once

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "common/kube/work_queue.h"

namespace zs::controller {

// The Function work queue's figures, under client-go's workqueue metric
// names with the zeroscale_ prefix and name="function".
class WorkQueuePrometheus final : public kube::WorkQueueMetrics {
 public:
  WorkQueuePrometheus(prometheus::Registry& registry, const std::string& name);
  void Added() override;
  void Depth(size_t depth) override;
  void Started(Duration waited) override;
  void Finished(Duration worked) override;
  void Retried() override;

 private:
  prometheus::Counter& adds_;
  prometheus::Gauge& depth_;
  prometheus::Histogram& queue_duration_;
  prometheus::Histogram& work_duration_;
  prometheus::Counter& retries_;
};

class ControllerMetrics {
 public:
  ControllerMetrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // result: success, error (a child write failed), backoff (waiting out an earlier failure), invalid
  void ObserveReconcile(const std::string& result, double seconds);
  void SetLeader(bool leader);
  void SetReplicas(const std::string& ns, const std::string& name, int desired, int ready);
  void RemoveFunction(const std::string& ns, const std::string& name);
  // direction: up, down
  void CountScale(const std::string& ns, const std::string& name, const std::string& direction);
  // result: scaled, already_active, not_leader, not_found, invalid, error
  void CountWake(const std::string& result);
  void CountStatsReport();
  // A report refused by the autoscaler's range checks.
  void CountRejectedStatsReport();
  // A gRPC call refused by authentication: unauthenticated, permission_denied, unavailable.
  void CountRefusedGrpcCall(const std::string& reason);
  // What became of a recorded Event: created, aggregated, rate_limited,
  // queue_full, failed.
  void CountEvent(const std::string& result);
  kube::WorkQueueMetrics& work_queue() { return work_queue_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& reconcile_total_;
  prometheus::Family<prometheus::Histogram>& reconcile_duration_;
  prometheus::Gauge& leader_;
  prometheus::Family<prometheus::Gauge>& desired_replicas_;
  prometheus::Family<prometheus::Gauge>& ready_replicas_;
  prometheus::Family<prometheus::Counter>& scale_events_;
  prometheus::Family<prometheus::Counter>& wake_total_;
  prometheus::Counter& stats_reports_;
  prometheus::Counter& stats_reports_rejected_;
  prometheus::Family<prometheus::Counter>& grpc_refused_;
  prometheus::Family<prometheus::Counter>& events_;
  WorkQueuePrometheus work_queue_;
};

}  // namespace zs::controller
