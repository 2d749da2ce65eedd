#include "controller/events.h"

#include "common/kube/resource.h"
#include "common/log.h"
#include "common/time_format.h"

namespace zs::controller {

KubeEventRecorder::KubeEventRecorder(kube::KubeClient& client, Clock& clock, std::string component)
    : client_(client), clock_(clock), component_(std::move(component)) {}

void KubeEventRecorder::Record(const api::Function& fn, EventType type, const std::string& reason,
                               const std::string& message) {
  const std::string now = FormatRfc3339(clock_.WallNow());
  const std::string now_micros = FormatRfc3339Micros(clock_.WallNow());
  nlohmann::json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"generateName", fn.metadata.name + "."}, {"namespace", fn.metadata.namespace_}}},
      {"involvedObject",
       {{"apiVersion", api::kApiVersion},
        {"kind", api::kKind},
        {"name", fn.metadata.name},
        {"namespace", fn.metadata.namespace_},
        {"uid", fn.metadata.uid},
        {"resourceVersion", fn.metadata.resource_version}}},
      {"reason", reason},
      {"message", message},
      {"type", type == EventType::kNormal ? "Normal" : "Warning"},
      {"source", {{"component", component_}}},
      {"reportingComponent", component_},
      {"reportingInstance", component_},
      {"action", reason},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"eventTime", now_micros},
      {"count", 1}};
  auto created = client_.Create(kube::kCoreEvents.In(fn.metadata.namespace_), event);
  log::Info(
      "event",
      {{"function", fn.metadata.Key()}, {"type", event["type"]}, {"reason", reason}, {"message", message}});
  if (!created.ok()) {
    log::Warn("event not recorded", {{"function", fn.metadata.Key()},
                                     {"reason", reason},
                                     {"error", std::string(created.status().message())}});
  }
}

}  // namespace zs::controller
