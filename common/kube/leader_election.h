// LeaderElector: leader election on a coordination.k8s.io/v1 Lease with
// client-go's semantics.
//
//   - A candidate takes the lease when it is free (no holder), expired
//     (renewTime + leaseDurationSeconds in the past, as observed on the
//     candidate's own clock: it measures expiry from the moment it last saw
//     the lease change, like client-go, so clock skew between nodes does not
//     matter) or already its own. Takeover bumps leaseTransitions and sets
//     acquireTime. Writes are optimistic (resourceVersion), so two candidates
//     never both win.
//   - The leader renews every retry_period. When renewals keep failing for
//     renew_deadline it steps down (OnStoppedLeading) and goes back to
//     candidate.
//   - Stop() while leading releases the lease (holderIdentity "",
//     leaseDurationSeconds 1) so a successor takes over at once.
//   - OnNewLeader fires whenever the observed holder changes (including to us).
//
// Times in the Lease are MicroTime ("2006-01-02T15:04:05.000000Z") from
// clock.WallNow(); all waiting uses clock (ManualClock in tests).
//
// Lifecycle: construct, Start() (own thread) or Run() (caller's thread,
// returns after Stop()); Stop() from any thread. Callbacks run on the
// elector's thread; OnStartedLeading must not block (start work elsewhere).
// IsLeader()/Leader() may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/kube/backoff.h"
#include "common/kube/client.h"

namespace zs::kube {

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  bool release_on_stop = true;
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

class LeaderElector {
 public:
  LeaderElector(KubeClient& client, Clock& clock, LeaderElectionConfig config);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void Start();
  // Runs the election loop on the calling thread until Stop().
  void Run();
  void Stop();

  bool IsLeader() const { return leading_.load(); }
  // Holder last observed ("" when none).
  std::string Leader() const;

 private:
  // One acquire-or-renew attempt; true when we hold the lease afterwards.
  bool TryAcquireOrRenew();
  void Release();
  void ObserveHolder(const std::string& holder);
  nlohmann::json LeaseSpec(const nlohmann::json& old_spec, bool takeover) const;

  KubeClient& client_;
  Clock& clock_;
  const LeaderElectionConfig config_;

  StopSignal stop_;
  std::atomic<bool> leading_{false};
  mutable std::mutex mu_;
  std::string observed_holder_;
  // Last observed lease record and when (on our clock) we saw it change.
  nlohmann::json observed_spec_;
  MonotonicTime observed_time_{};
  bool have_observed_ = false;
  std::thread thread_;
};

}  // namespace zs::kube
