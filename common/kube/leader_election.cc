#include "common/kube/leader_election.h"

#include "common/kube/backoff.h"
#include "common/kube/errors.h"
#include "common/log.h"
#include "common/time_format.h"

namespace zs::kube {

LeaderElector::LeaderElector(KubeClient& client, Clock& clock, LeaderElectionConfig config)
    : client_(client), clock_(clock), config_(std::move(config)) {}

LeaderElector::~LeaderElector() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void LeaderElector::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Stop() { stop_.Stop(); }

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

bool LeaderElector::TryAcquireOrRenew() {
  const ResourceRef ref = LeaseRef(config_.lease_namespace, config_.lease_name);
  absl::StatusOr<nlohmann::json> lease = client_.Get(ref);
  if (!lease.ok()) {
    if (!kube::IsNotFound(lease.status())) {
      log::Warn("leader election: cannot read lease",
                {{"lease", ref.Key()}, {"error", std::string(lease.status().message())}});
      return false;
    }
    nlohmann::json object = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
        {"spec", LeaseSpec(nlohmann::json::object(), /*takeover=*/true)},
    };
    absl::StatusOr<nlohmann::json> created = client_.Create(ref.Collection(), object);
    if (!created.ok()) return false;
    {
      std::lock_guard lock(mu_);
      observed_spec_ = (*created)["spec"];
      observed_time_ = clock_.Now();
      have_observed_ = true;
    }
    ObserveHolder(config_.identity);
    return true;
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
    observed_time = observed_time_;
  }
  ObserveHolder(holder);
  const int64_t duration_seconds = old_spec.value("leaseDurationSeconds", int64_t{0});
  const bool expired = now >= observed_time + std::chrono::seconds(duration_seconds);
  const bool ours = holder == config_.identity;
  if (!holder.empty() && !ours && !expired) return false;

  nlohmann::json updated = *lease;
  updated["spec"] = LeaseSpec(old_spec, /*takeover=*/!ours);
  absl::StatusOr<nlohmann::json> written = client_.Update(ref, updated);
  if (!written.ok()) {
    if (!kube::IsConflict(written.status())) {
      log::Warn("leader election: cannot write lease",
                {{"lease", ref.Key()}, {"error", std::string(written.status().message())}});
    }
    return false;
  }
  {
    std::lock_guard lock(mu_);
    observed_spec_ = (*written)["spec"];
    observed_time_ = clock_.Now();
  }
  ObserveHolder(config_.identity);
  return true;
}

void LeaderElector::Release() {
  const ResourceRef ref = LeaseRef(config_.lease_namespace, config_.lease_name);
  absl::StatusOr<nlohmann::json> lease = client_.Get(ref);
  if (!lease.ok()) return;
  nlohmann::json spec = lease->value("spec", nlohmann::json::object());
  if (spec.value("holderIdentity", "") != config_.identity) return;
  const std::string now = FormatRfc3339Micros(clock_.WallNow());
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = now;
  spec["acquireTime"] = now;
  nlohmann::json updated = *lease;
  updated["spec"] = spec;
  absl::StatusOr<nlohmann::json> written = client_.Update(ref, updated);
  if (!written.ok()) {
    log::Warn("leader election: cannot release lease",
              {{"lease", ref.Key()}, {"error", std::string(written.status().message())}});
  }
}

void LeaderElector::Run() {
  // Attempts run every retry_period measured from the start of the previous
  // attempt (a fixed cadence, independent of how long the apiserver took).
  while (!stop_.stopped()) {
    MonotonicTime attempt = clock_.Now();
    bool acquired = false;
    while (!(acquired = TryAcquireOrRenew())) {
      if (!stop_.WaitUntil(clock_, attempt + config_.retry_period)) break;
      attempt = clock_.Now();
    }
    if (!acquired) break;

    leading_ = true;
    log::Info("leader election: became leader",
              {{"identity", config_.identity}, {"lease", config_.lease_name}});
    if (config_.on_started_leading) config_.on_started_leading();

    // Leader: renew every retry period; give up after renew_deadline without
    // a successful renewal.
    MonotonicTime last_renew = attempt;
    while (stop_.WaitUntil(clock_, attempt + config_.retry_period)) {
      attempt = clock_.Now();
      if (TryAcquireOrRenew()) {
        last_renew = attempt;
        continue;
      }
      if (attempt - last_renew >= config_.renew_deadline) {
        log::Warn("leader election: lost leadership (renew deadline passed)",
                  {{"identity", config_.identity}});
        break;
      }
    }
    if (stop_.stopped() && config_.release_on_stop) Release();
    leading_ = false;
    if (config_.on_stopped_leading) config_.on_stopped_leading();
  }
}

}  // namespace zs::kube
