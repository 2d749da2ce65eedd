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
//   - The leader renews every retry_period. Its renew deadline is
//     renew_deadline after the start of its last successful attempt; every
//     request of an attempt is bounded by the time left to it
//     (KubeClient::WithTimeout, as client-go's context), and at the deadline
//     the leader steps down without waiting for a stalled call. A standby
//     takes over no earlier than lease_duration after it saw that same
//     renewal, so with lease_duration > renew_deadline the old leader has
//     stopped (OnStoppedLeading returned) before anyone else can lead. A
//     leader that reads the lease held by someone else steps down at once.
//   - IsLeader() is computed from the clock (held and deadline not passed),
//     so it turns false at the deadline even if the elector's thread is stuck.
//   - Stop() while leading: OnStoppedLeading first (the process stops
//     acting), then the lease is released (holderIdentity "",
//     leaseDurationSeconds 1, as client-go's ReleaseOnCancel) so that a
//     standby takes over at its next attempt instead of after expiry.
//   - A candidate also watches the Lease: when it sees it released (holder
//     "") it tries at once instead of at its next retry, so a handover after
//     Stop() takes one round trip, not up to a retry period. The watch is a
//     hint; the periodic attempts alone are correct (and go on if the watch
//     cannot be opened, e.g. without the RBAC verb).
//   - OnNewLeader fires whenever the observed holder changes (including to us).
//
// Times in the Lease are MicroTime ("2006-01-02T15:04:05.000000Z") from
// clock.WallNow(); all waiting uses clock (ManualClock in tests).
//
// Lifecycle: construct, Start() (own thread) or Run() (caller's thread,
// returns after Stop()); Stop() from any thread, Join() to wait for the
// release. OnStartedLeading runs on a thread of its own, started on becoming
// leader, so that whatever it waits for (cache sync) never delays a renewal;
// its stop_token is requested when leadership ends and it should return
// promptly then. OnStoppedLeading and OnNewLeader run on the elector's
// thread; OnStoppedLeading runs after OnStartedLeading returned.
// IsLeader()/Leader() may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/kube/backoff.h"
#include "common/kube/client.h"

namespace zs::kube {

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;
  // How long a standby waits, from the last change it saw, before taking an
  // unrenewed lease. Must exceed renew_deadline.
  Duration lease_duration = std::chrono::seconds(15);
  // How long the leader may go without a successful renewal before it steps
  // down. Must exceed retry_period.
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  bool release_on_stop = true;
  // Own thread; see the class comment.
  std::function<void(std::stop_token stop)> on_started_leading;
  // When it returns, this process no longer acts as leader.
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

// The ordering client-go requires: lease_duration > renew_deadline >
// retry_period > 0, and names set.
absl::Status ValidateLeaderElectionConfig(const LeaderElectionConfig& config);

// The leader-election settings and flags (controller-runtime's names) of
// every elected binary; `id` is the default Lease name.
struct LeaderElectionOptions {
  explicit LeaderElectionOptions(std::string id) : leader_election_id(std::move(id)) {}

  bool leader_elect = false;
  std::string leader_election_namespace = "zeroscale-system";
  std::string leader_election_id;
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};

  // `leader_does` ends the --leader-elect help: "only the leader <...>."
  void Register(FlagSet& flags, const std::string& leader_does);
  // These settings for `identity`; the callbacks are left to the caller.
  LeaderElectionConfig Config(std::string identity) const;
};

// Inline: the binaries' Options stay header-only (tests parse the chart's
// flags with them without linking the client).
inline void LeaderElectionOptions::Register(FlagSet& flags, const std::string& leader_does) {
  flags.Bool("leader-elect", &leader_elect,
             "Elect a leader on a coordination.k8s.io Lease; only the leader " + leader_does + ".");
  flags.String("leader-election-namespace", &leader_election_namespace,
               "Namespace of the leader-election Lease.");
  flags.String("leader-election-id", &leader_election_id, "Name of the leader-election Lease.");
  flags.Duration("leader-elect-lease-duration", &lease_duration,
                 "How long a non-leader waits before taking over an unrenewed lease.");
  flags.Duration("leader-elect-renew-deadline", &renew_deadline,
                 "How long the leader keeps trying to renew before giving up leadership.");
  flags.Duration("leader-elect-retry-period", &retry_period, "How often leader-election clients retry.");
}

inline LeaderElectionConfig LeaderElectionOptions::Config(std::string identity) const {
  LeaderElectionConfig config;
  config.lease_namespace = leader_election_namespace;
  config.lease_name = leader_election_id;
  config.identity = std::move(identity);
  config.lease_duration = lease_duration;
  config.renew_deadline = renew_deadline;
  config.retry_period = retry_period;
  return config;
}

class LeaderElector {
 public:
  LeaderElector(KubeClient& client, Clock& clock, LeaderElectionConfig config);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void Start();
  // Runs the election loop on the calling thread until Stop().
  void Run();
  // Asks the loop to end (stepping down and releasing when leading).
  void Stop();
  // Waits for the thread Start() made to end; not from a callback.
  void Join();

  bool IsLeader() const;
  // Holder last observed ("" when none).
  std::string Leader() const;

 private:
  enum class Attempt { kHeld, kHeldByOther, kFailed };
  // One acquire-or-renew attempt whose requests all end by `deadline`; a
  // success that completes at or after it counts as a failure.
  Attempt TryAcquireOrRenew(MonotonicTime deadline);
  // Leads from an attempt that started at `acquired_at` until leadership ends.
  void Lead(MonotonicTime acquired_at);
  void Release(MonotonicTime deadline);
  // The candidate's wait between attempts: until `until`, a release seen by
  // the watch, or Stop() (false).
  bool WaitToRetry(MonotonicTime until);
  // Watches the Lease until Stop(); wakes WaitToRetry on a release.
  void WatchLease();
  void ObserveHolder(const std::string& holder);
  void ObserveLease(const nlohmann::json& lease);
  nlohmann::json LeaseSpec(const nlohmann::json& old_spec, bool takeover) const;

  KubeClient& client_;
  Clock& clock_;
  const LeaderElectionConfig config_;

  StopSignal stop_;
  mutable std::mutex mu_;
  bool leading_ = false;
  MonotonicTime leading_until_{};
  std::string observed_holder_;
  // Last observed lease record and when (on our clock) we saw it change.
  nlohmann::json observed_spec_;
  MonotonicTime observed_time_{};
  bool have_observed_ = false;
  // The last lease object read or written (with its resourceVersion): what
  // Release() writes back.
  nlohmann::json observed_lease_;
  std::thread thread_;

  Cancellation watch_cancel_;
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool release_seen_ = false;
};

}  // namespace zs::kube
