#include "common/kube/leader_election.h"

#include "common/kube/backoff.h"
#include "common/kube/errors.h"
#include "common/log.h"
#include "common/time_format.h"

namespace zs::kube {

absl::Status ValidateLeaderElectionConfig(const LeaderElectionConfig& config) {
  if (config.lease_namespace.empty() || config.lease_name.empty() || config.identity.empty()) {
    return absl::InvalidArgumentError("leader election: lease namespace, name and identity must be set");
  }
  if (config.retry_period <= Duration::zero()) {
    return absl::InvalidArgumentError("leader election: the retry period must be positive");
  }
  if (config.renew_deadline <= config.retry_period) {
    return absl::InvalidArgumentError("leader election: the renew deadline must exceed the retry period");
  }
  if (config.lease_duration <= config.renew_deadline) {
    // Otherwise a standby could take over while the old leader still acts.
    return absl::InvalidArgumentError("leader election: the lease duration must exceed the renew deadline");
  }
  if (config.lease_duration < std::chrono::seconds(1)) {
    return absl::InvalidArgumentError("leader election: the lease duration must be at least 1s");
  }
  return absl::OkStatus();
}

LeaderElector::LeaderElector(KubeClient& client, Clock& clock, LeaderElectionConfig config)
    : client_(client), clock_(clock), config_(std::move(config)) {}

LeaderElector::~LeaderElector() {
  Stop();
  Join();
}

void LeaderElector::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Stop() {
  stop_.Stop();
  watch_cancel_.Cancel();
  { std::lock_guard lock(wake_mu_); }
  wake_cv_.notify_all();
}

bool LeaderElector::WaitToRetry(MonotonicTime until) {
  std::unique_lock lock(wake_mu_);
  while (!stop_.stopped()) {
    if (release_seen_) {
      release_seen_ = false;
      return true;
    }
    const MonotonicTime now = clock_.Now();
    if (now >= until) return true;
    // Real-time slices re-reading the clock, as StopSignal (ManualClock).
    wake_cv_.wait_for(lock, std::min<Duration>(until - now, std::chrono::milliseconds(50)));
  }
  return false;
}

void LeaderElector::WatchLease() {
  const ResourceRef leases = kLeases.In(config_.lease_namespace);
  BackoffOptions backoff_options;
  backoff_options.initial = std::chrono::milliseconds(500);
  Backoff backoff(clock_, backoff_options);
  while (!stop_.stopped()) {
    WatchOptions options;
    options.field_selector = "metadata.name=" + config_.lease_name;
    options.timeout_seconds = 300;
    options.cancel = &watch_cancel_;
    const MonotonicTime started = clock_.Now();
    absl::Status ended = client_.Watch(leases, options, [this](const WatchEvent& event) {
      if (event.type != WatchEventType::kAdded && event.type != WatchEventType::kModified) return true;
      const nlohmann::json& spec = event.object.contains("spec") ? event.object["spec"] : nlohmann::json();
      const bool free = !spec.is_object() || spec.value("holderIdentity", "").empty();
      if (free && !IsLeader()) {
        {
          std::lock_guard lock(wake_mu_);
          release_seen_ = true;
        }
        wake_cv_.notify_all();
      }
      return !stop_.stopped();
    });
    if (stop_.stopped()) return;
    // A stream that failed, or ended at once, is retried with backoff.
    if (ended.ok() && clock_.Now() - started >= std::chrono::seconds(1)) {
      backoff.Reset();
      continue;
    }
    if (!ended.ok()) {
      log::Debug("leader election: cannot watch the lease",
                 {{"lease", config_.lease_name}, {"error", std::string(ended.message())}});
    }
    if (!stop_.WaitFor(clock_, backoff.Next())) return;
  }
}

void LeaderElector::Join() {
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool LeaderElector::IsLeader() const {
  std::lock_guard lock(mu_);
  return leading_ && clock_.Now() < leading_until_;
}

std::string LeaderElector::Leader() const {
  std::lock_guard lock(mu_);
  return observed_holder_;
}

void LeaderElector::ObserveHolder(const std::string& holder) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    if (holder != observed_holder_) {
      observed_holder_ = holder;
      changed = true;
    }
  }
  if (changed && !holder.empty() && config_.on_new_leader) config_.on_new_leader(holder);
}

void LeaderElector::ObserveLease(const nlohmann::json& lease) {
  std::lock_guard lock(mu_);
  observed_lease_ = lease;
  observed_spec_ = lease.value("spec", nlohmann::json::object());
  observed_time_ = clock_.Now();
  have_observed_ = true;
}

nlohmann::json LeaderElector::LeaseSpec(const nlohmann::json& old_spec, bool takeover) const {
  const std::string now = FormatRfc3339Micros(clock_.WallNow());
  nlohmann::json spec = {
      {"holderIdentity", config_.identity},
      {"leaseDurationSeconds",
       std::max<int64_t>(1,
                         std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count())},
      {"renewTime", now},
  };
  const int64_t transitions = old_spec.is_object() ? old_spec.value("leaseTransitions", int64_t{0}) : 0;
  if (takeover) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = old_spec.is_object() && !old_spec.empty() ? transitions + 1 : 0;
  } else {
    spec["acquireTime"] = old_spec.value("acquireTime", now);
    spec["leaseTransitions"] = transitions;
  }
  return spec;
}

LeaderElector::Attempt LeaderElector::TryAcquireOrRenew(MonotonicTime deadline) {
  const ResourceRef ref = LeaseRef(config_.lease_namespace, config_.lease_name);
  // Each request gets the time left to the deadline, so a stalled apiserver
  // cannot hold the attempt past it.
  auto bounded = [this, deadline]() -> std::unique_ptr<KubeClient> {
    const Duration left = deadline - clock_.Now();
    if (left <= Duration::zero()) return nullptr;
    return client_.WithTimeout(left);
  };
  auto in_time = [this, deadline] { return clock_.Now() < deadline; };

  std::unique_ptr<KubeClient> client = bounded();
  if (!client || stop_.stopped()) return Attempt::kFailed;
  absl::StatusOr<nlohmann::json> lease = client->Get(ref);
  if (!lease.ok()) {
    if (!kube::IsNotFound(lease.status())) {
      log::Warn("leader election: cannot read lease",
                {{"lease", ref.Key()}, {"error", std::string(lease.status().message())}});
      return Attempt::kFailed;
    }
    nlohmann::json object = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
        {"spec", LeaseSpec(nlohmann::json::object(), /*takeover=*/true)},
    };
    client = bounded();
    // A candidate told to stop does not acquire on its way out.
    if (!client || stop_.stopped()) return Attempt::kFailed;
    absl::StatusOr<nlohmann::json> created = client->Create(ref.Collection(), object);
    if (!created.ok()) return Attempt::kFailed;
    ObserveLease(*created);
    ObserveHolder(config_.identity);
    return in_time() ? Attempt::kHeld : Attempt::kFailed;
  }

  nlohmann::json old_spec = lease->value("spec", nlohmann::json::object());
  const std::string holder = old_spec.value("holderIdentity", "");
  const MonotonicTime now = clock_.Now();
  MonotonicTime observed_time;
  {
    std::lock_guard lock(mu_);
    // Expiry is measured on our own clock from when the record last changed,
    // not from renewTime, so that clock skew between candidates is harmless.
    if (!have_observed_ || observed_spec_ != old_spec) {
      observed_spec_ = old_spec;
      observed_time_ = now;
      have_observed_ = true;
    }
    observed_lease_ = *lease;
    observed_time = observed_time_;
  }
  ObserveHolder(holder);
  const int64_t duration_seconds = old_spec.value("leaseDurationSeconds", int64_t{0});
  const bool expired = now >= observed_time + std::chrono::seconds(duration_seconds);
  const bool ours = holder == config_.identity;
  if (!holder.empty() && !ours && !expired) return Attempt::kHeldByOther;

  nlohmann::json updated = *lease;
  updated["spec"] = LeaseSpec(old_spec, /*takeover=*/!ours);
  client = bounded();
  if (!client || stop_.stopped()) return Attempt::kFailed;
  absl::StatusOr<nlohmann::json> written = client->Update(ref, updated);
  if (!written.ok()) {
    if (!kube::IsConflict(written.status())) {
      log::Warn("leader election: cannot write lease",
                {{"lease", ref.Key()}, {"error", std::string(written.status().message())}});
    }
    return Attempt::kFailed;
  }
  ObserveLease(*written);
  ObserveHolder(config_.identity);
  return in_time() ? Attempt::kHeld : Attempt::kFailed;
}

void LeaderElector::Release(MonotonicTime deadline) {
  const ResourceRef ref = LeaseRef(config_.lease_namespace, config_.lease_name);
  nlohmann::json lease;
  {
    std::lock_guard lock(mu_);
    lease = observed_lease_;
  }
  if (!lease.is_object()) return;
  nlohmann::json spec = lease.value("spec", nlohmann::json::object());
  if (spec.value("holderIdentity", "") != config_.identity) return;
  // Written with the resourceVersion of our last renewal: if anyone changed
  // the lease since, the release conflicts and changes nothing.
  const Duration left = deadline - clock_.Now();
  if (left <= Duration::zero()) {
    log::Warn("leader election: renew deadline passed before the release; the lease will expire",
              {{"lease", ref.Key()}});
    return;
  }
  const std::string now = FormatRfc3339Micros(clock_.WallNow());
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = now;
  spec["acquireTime"] = now;
  lease["spec"] = spec;
  absl::StatusOr<nlohmann::json> written = client_.WithTimeout(left)->Update(ref, lease);
  if (!written.ok()) {
    log::Warn("leader election: cannot release lease",
              {{"lease", ref.Key()}, {"error", std::string(written.status().message())}});
    return;
  }
  ObserveLease(*written);
  log::Info("leader election: released lease", {{"identity", config_.identity}, {"lease", ref.Key()}});
}

void LeaderElector::Lead(MonotonicTime acquired_at) {
  MonotonicTime deadline = acquired_at + config_.renew_deadline;
  {
    std::lock_guard lock(mu_);
    leading_ = true;
    leading_until_ = deadline;
  }
  log::Info("leader election: became leader",
            {{"identity", config_.identity}, {"lease", config_.lease_name}});
  std::jthread work;
  if (config_.on_started_leading) work = std::jthread(config_.on_started_leading);

  // Renew every retry period; wake at the deadline at the latest.
  std::string lost;
  MonotonicTime attempt = acquired_at;
  while (stop_.WaitUntil(clock_, std::min(attempt + config_.retry_period, deadline))) {
    attempt = clock_.Now();
    if (attempt >= deadline) {
      lost = "renew deadline passed";
      break;
    }
    const Attempt result = TryAcquireOrRenew(deadline);
    if (result == Attempt::kHeld) {
      deadline = attempt + config_.renew_deadline;
      std::lock_guard lock(mu_);
      leading_until_ = deadline;
    } else if (result == Attempt::kHeldByOther) {
      lost = "the lease is held by another";
      break;
    }
  }
  {
    std::lock_guard lock(mu_);
    leading_ = false;
  }
  if (!lost.empty()) {
    log::Warn("leader election: lost leadership", {{"identity", config_.identity}, {"why", lost}});
  }
  // The leader's work first stops, then (on Stop()) the lease goes: a
  // successor never acts beside us.
  work.request_stop();
  if (work.joinable()) work.join();
  if (config_.on_stopped_leading) config_.on_stopped_leading();
  if (lost.empty() && config_.release_on_stop) Release(deadline);
}

void LeaderElector::Run() {
  std::jthread watch([this] { WatchLease(); });
  // Attempts run every retry_period measured from the start of the previous
  // attempt (a fixed cadence, independent of how long the apiserver took),
  // or at once when the watch saw the lease released.
  while (!stop_.stopped()) {
    MonotonicTime attempt = clock_.Now();
    bool held = false;
    while (!(held = TryAcquireOrRenew(attempt + config_.renew_deadline) == Attempt::kHeld)) {
      if (!WaitToRetry(attempt + config_.retry_period)) break;
      attempt = clock_.Now();
    }
    if (!held) break;
    {
      // A release seen while we were leading is stale for the next round.
      std::lock_guard lock(wake_mu_);
      release_seen_ = false;
    }
    Lead(attempt);
  }
  watch_cancel_.Cancel();
}

}  // namespace zs::kube
