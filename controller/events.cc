#include "controller/events.h"

#include "common/kube/errors.h"
#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_format.h"

namespace zs::controller {

KubeEventRecorder::KubeEventRecorder(kube::KubeClient& client, Clock& clock, std::string component)
    : KubeEventRecorder(client, clock, std::move(component), Options{}) {}

KubeEventRecorder::KubeEventRecorder(kube::KubeClient& client, Clock& clock, std::string component,
                                     Options options)
    : client_(client),
      clock_(clock),
      component_(std::move(component)),
      options_(std::move(options)),
      correlator_(options_.correlator),
      worker_([this] { Run(); }) {}

KubeEventRecorder::~KubeEventRecorder() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void KubeEventRecorder::Count(const std::string& result) const {
  if (options_.count) options_.count(result);
}

void KubeEventRecorder::Record(const api::Function& fn, EventType type, const std::string& reason,
                               const std::string& message) {
  const std::string type_name = type == EventType::kNormal ? "Normal" : "Warning";
  log::Info("event",
            {{"function", fn.metadata.Key()}, {"type", type_name}, {"reason", reason}, {"message", message}});
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    if (queue_.size() >= options_.max_pending) {
      Count("queue_full");
      return;
    }
    queue_.push_back(
        Pending{{fn.metadata.namespace_, fn.metadata.name, fn.metadata.uid, type_name, reason, message},
                fn.metadata.resource_version,
                clock_.Now(),
                clock_.WallNow()});
    ++queued_;
  }
  cv_.notify_all();
}

void KubeEventRecorder::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = queued_;
  cv_.wait(lock, [&] { return handled_ >= target || stop_; });
}

void KubeEventRecorder::Discard() {
  std::unique_lock lock(mu_);
  handled_ += queue_.size();
  queue_.clear();
  cv_.wait(lock, [&] { return !posting_; });
  cv_.notify_all();
}

void KubeEventRecorder::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    posting_ = true;
    lock.unlock();
    Post(p);
    lock.lock();
    posting_ = false;
    ++handled_;
    cv_.notify_all();
  }
}

void KubeEventRecorder::Post(const Pending& p) {
  const EventRecord& e = p.record;
  if (options_.may_post && !options_.may_post()) {
    Count("not_leader");
    return;
  }
  const EventCorrelator::Verdict verdict = correlator_.Observe(e, p.at, p.wall);
  if (verdict.action == EventCorrelator::Action::kDrop) {
    log::Debug("event rate-limited", {{"function", Cat(e.ns, "/", e.name)}, {"reason", e.reason}});
    Count("rate_limited");
    return;
  }
  const std::string now = FormatRfc3339(p.wall);
  if (verdict.action == EventCorrelator::Action::kBump) {
    const nlohmann::json patch = {{"count", verdict.count}, {"lastTimestamp", now}};
    auto patched = client_.Patch(kube::kCoreEvents.In(e.ns).Named(verdict.event_name),
                                 kube::PatchType::kMerge, patch, {component_});
    if (patched.ok()) {
      Count("aggregated");
      return;
    }
    // Gone (Events expire after an hour by default): this one starts the
    // series again as a new Event. Unwritable: the next one tries anew.
    if (!kube::IsNotFound(patched.status())) {
      correlator_.Forget(e);
      log::Warn(
          "event count not updated",
          {{"function", Cat(e.ns, "/", e.name)}, {"reason", e.reason}, {"error", Message(patched.status())}});
      Count("failed");
      return;
    }
    correlator_.Restart(e, p.at, p.wall);
  }
  const nlohmann::json event = {{"apiVersion", "v1"},
                                {"kind", "Event"},
                                {"metadata", {{"generateName", e.name + "."}, {"namespace", e.ns}}},
                                {"involvedObject",
                                 {{"apiVersion", api::kApiVersion},
                                  {"kind", api::kKind},
                                  {"name", e.name},
                                  {"namespace", e.ns},
                                  {"uid", e.uid},
                                  {"resourceVersion", p.resource_version}}},
                                {"reason", e.reason},
                                {"message", e.message},
                                {"type", e.type},
                                {"source", {{"component", component_}}},
                                {"reportingComponent", component_},
                                {"reportingInstance", component_},
                                {"action", e.reason},
                                {"firstTimestamp", now},
                                {"lastTimestamp", now},
                                {"eventTime", FormatRfc3339Micros(p.wall)},
                                {"count", 1}};
  auto created = client_.Create(kube::kCoreEvents.In(e.ns), event);
  if (!created.ok()) {
    correlator_.Forget(e);
    log::Warn(
        "event not recorded",
        {{"function", Cat(e.ns, "/", e.name)}, {"reason", e.reason}, {"error", Message(created.status())}});
    Count("failed");
    return;
  }
  correlator_.Created(e, created->value(nlohmann::json::json_pointer("/metadata/name"), ""));
  Count("created");
}

}  // namespace zs::controller
