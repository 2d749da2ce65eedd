// FunctionController: informers on Functions and their Deployments,
// Services and pods (pods only for why they do not start: PodTroubleOf),
// a rate-limited work queue, and workers that run the
// FunctionReconciler (controller-runtime's Controller, for one kind).
//
// Every `sync_period` while leading, every cached Function is enqueued again
// (controller-runtime's SyncPeriod): a missed event or a child changed behind
// our back is corrected within a period. A settled Function's reconcile
// writes nothing, so a resync costs no apiserver write.
//
// Lifecycle: construct, StartInformers() (every replica keeps warm caches so
// that a failover starts reconciling at once), StartWorkers() when this
// replica leads (workers and the resync), StopWorkers() when it stops leading (returns once no
// reconcile runs, so nothing more is written), Stop() once. Enqueue() may be called from any thread (the
// autoscaler uses it when a function's scaling status changes).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/kube/backoff.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"
#include "common/kube/work_queue.h"
#include "controller/events.h"
#include "controller/metrics.h"
#include "controller/reconciler/function_reconciler.h"

namespace zs::controller {

class FunctionController {
 public:
  struct Options {
    std::string watch_namespace;  // empty: all namespaces
    std::string activator_url;
    int workers = 4;
    Duration sync_period = std::chrono::minutes(10);
    FailureBackoffOptions backoff;
  };
  FunctionController(kube::KubeClient& client, Clock& clock, ControllerMetrics& metrics,
                     EventRecorder& events, ScalingStatusSource scaling, Options options);
  ~FunctionController();

  void StartInformers();
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  bool HasSynced() const;
  void StartWorkers();
  void StopWorkers();
  void Stop();

  void Enqueue(const std::string& key);
  // The cached Functions and Deployments (the autoscaler reads them).
  kube::Informer& functions() { return *functions_; }
  kube::Informer& deployments() { return *deployments_; }

 private:
  void Worker();
  void Resync();
  void EnqueueOwner(const nlohmann::json& child);
  // Keeps pods_by_function_ current and enqueues the pod's Function.
  void NotePod(const nlohmann::json& pod, bool gone);
  std::vector<nlohmann::json> PodsOf(const std::string& key) const;

  kube::KubeClient& client_;
  Clock& clock_;
  ControllerMetrics& metrics_;
  const Options options_;
  std::unique_ptr<kube::Informer> functions_;
  std::unique_ptr<kube::Informer> deployments_;
  std::unique_ptr<kube::Informer> services_;
  std::unique_ptr<kube::Informer> pods_;
  mutable std::mutex pods_mu_;
  std::map<std::string, std::set<std::string>> pods_by_function_;  // "ns/fn" -> pod keys
  kube::WorkQueue queue_;
  std::unique_ptr<FunctionReconciler> reconciler_;
  std::vector<std::thread> workers_;
  std::unique_ptr<kube::StopSignal> resync_stop_;
  std::thread resync_;
  std::atomic<bool> stopped_{false};
};

}  // namespace zs::controller
