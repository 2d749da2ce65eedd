#include "controller/metrics.h"

namespace zs::controller {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {
// 1 ms to about 16 s, doubling: a queue wait or a reconcile.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.001, 0.002, 0.004, 0.008, 0.016,
                                                                   0.032, 0.064, 0.128, 0.256, 0.512,
                                                                   1.024, 2.048, 4.096, 8.192, 16.384};
  return kBuckets;
}
}  // namespace

WorkQueuePrometheus::WorkQueuePrometheus(prometheus::Registry& registry, const std::string& name)
    : adds_(BuildCounter()
                .Name("zeroscale_workqueue_adds_total")
                .Help("Keys added to the work queue (a key already waiting is not added again).")
                .Register(registry)
                .Add({{"name", name}})),
      depth_(BuildGauge()
                 .Name("zeroscale_workqueue_depth")
                 .Help("Keys waiting in the work queue for a worker.")
                 .Register(registry)
                 .Add({{"name", name}})),
      queue_duration_(BuildHistogram()
                          .Name("zeroscale_workqueue_queue_duration_seconds")
                          .Help("Time a key waited in the work queue before a worker took it.")
                          .Register(registry)
                          .Add({{"name", name}}, DurationBuckets())),
      work_duration_(BuildHistogram()
                         .Name("zeroscale_workqueue_work_duration_seconds")
                         .Help("Time a worker spent on a key taken from the work queue.")
                         .Register(registry)
                         .Add({{"name", name}}, DurationBuckets())),
      retries_(BuildCounter()
                   .Name("zeroscale_workqueue_retries_total")
                   .Help("Keys put back in the work queue after a failed reconcile, with backoff.")
                   .Register(registry)
                   .Add({{"name", name}})) {}

void WorkQueuePrometheus::Added() { adds_.Increment(); }
void WorkQueuePrometheus::Depth(size_t depth) { depth_.Set(static_cast<double>(depth)); }
void WorkQueuePrometheus::Started(Duration waited) { queue_duration_.Observe(ToSeconds(waited)); }
void WorkQueuePrometheus::Finished(Duration worked) { work_duration_.Observe(ToSeconds(worked)); }
void WorkQueuePrometheus::Retried() { retries_.Increment(); }

ControllerMetrics::ControllerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      reconcile_total_(BuildCounter()
                           .Name("zeroscale_controller_reconcile_total")
                           .Help("Function reconciles by result.")
                           .Register(*registry_)),
      reconcile_duration_(BuildHistogram()
                              .Name("zeroscale_controller_reconcile_duration_seconds")
                              .Help("Time to reconcile one Function, by result.")
                              .Register(*registry_)),
      leader_(BuildGauge()
                  .Name("zeroscale_controller_leader")
                  .Help("1 while this controller holds the leader Lease.")
                  .Register(*registry_)
                  .Add({})),
      desired_replicas_(BuildGauge()
                            .Name("zeroscale_function_desired_replicas")
                            .Help("Replicas the autoscaler asks for.")
                            .Register(*registry_)),
      ready_replicas_(BuildGauge()
                          .Name("zeroscale_function_ready_replicas")
                          .Help("Replicas passing their readiness probe.")
                          .Register(*registry_)),
      scale_events_(BuildCounter()
                        .Name("zeroscale_scale_events_total")
                        .Help("Replica count changes made by the autoscaler, by direction.")
                        .Register(*registry_)),
      wake_total_(BuildCounter()
                      .Name("zeroscale_controller_wake_requests_total")
                      .Help("Wake calls from activators, by result.")
                      .Register(*registry_)),
      stats_reports_(BuildCounter()
                         .Name("zeroscale_controller_stats_reports_total")
                         .Help("Load reports received from activators while leading.")
                         .Register(*registry_)
                         .Add({})),
      stats_reports_rejected_(BuildCounter()
                                  .Name("zeroscale_controller_stats_reports_rejected_total")
                                  .Help("Load reports refused whole because a figure was out of range.")
                                  .Register(*registry_)
                                  .Add({})),
      grpc_refused_(BuildCounter()
                        .Name("zeroscale_controller_grpc_refused_total")
                        .Help("gRPC calls refused by authentication, by reason.")
                        .Register(*registry_)),
      events_(BuildCounter()
                  .Name("zeroscale_controller_events_total")
                  .Help("Events recorded on Functions, by what became of them.")
                  .Register(*registry_)),
      work_queue_(*registry_, "function") {
  for (const char* result : {"created", "aggregated", "rate_limited", "queue_full", "failed", "not_leader"}) {
    events_.Add({{"result", result}});
  }
  for (const char* result : {"success", "error", "backoff", "invalid"}) {
    reconcile_total_.Add({{"result", result}});
  }
}

void ControllerMetrics::ObserveReconcile(const std::string& result, double seconds) {
  reconcile_total_.Add({{"result", result}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.001, 0.005, 0.01, 0.025, 0.05,
                                                                   0.1,   0.25,  0.5,  1,     2.5};
  reconcile_duration_.Add({{"result", result}}, kBuckets).Observe(seconds);
}

void ControllerMetrics::SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }

void ControllerMetrics::SetReplicas(const std::string& ns, const std::string& name, int desired, int ready) {
  desired_replicas_.Add({{"namespace", ns}, {"function", name}}).Set(desired);
  ready_replicas_.Add({{"namespace", ns}, {"function", name}}).Set(ready);
}

void ControllerMetrics::RemoveFunction(const std::string& ns, const std::string& name) {
  desired_replicas_.Remove(&desired_replicas_.Add({{"namespace", ns}, {"function", name}}));
  ready_replicas_.Remove(&ready_replicas_.Add({{"namespace", ns}, {"function", name}}));
  for (const char* direction : {"up", "down"}) {
    scale_events_.Remove(
        &scale_events_.Add({{"namespace", ns}, {"function", name}, {"direction", direction}}));
  }
}

void ControllerMetrics::CountScale(const std::string& ns, const std::string& name,
                                   const std::string& direction) {
  scale_events_.Add({{"namespace", ns}, {"function", name}, {"direction", direction}}).Increment();
}

void ControllerMetrics::CountRefusedGrpcCall(const std::string& reason) {
  grpc_refused_.Add({{"reason", reason}}).Increment();
}

void ControllerMetrics::CountWake(const std::string& result) {
  wake_total_.Add({{"result", result}}).Increment();
}

void ControllerMetrics::CountEvent(const std::string& result) {
  events_.Add({{"result", result}}).Increment();
}

void ControllerMetrics::CountStatsReport() { stats_reports_.Increment(); }

void ControllerMetrics::CountRejectedStatsReport() { stats_reports_rejected_.Increment(); }

}  // namespace zs::controller
