#include "activator/admission/function_config.h"

#include "common/api/quantity.h"
#include "common/strings.h"

namespace zs::activator {

std::string FunctionKey::String() const { return Cat(ns, "/", name); }

FunctionConfig FunctionConfigFromApi(const api::Function& function) {
  FunctionConfig config;
  config.key = FunctionKey{function.metadata.namespace_, function.metadata.name};
  const api::FunctionSpec& spec = function.spec;
  if (spec.port > 0 && spec.port <= 65535) config.port = static_cast<uint16_t>(spec.port);
  config.timeout = std::chrono::seconds(spec.timeout_seconds);
  config.max_concurrency = spec.scaling.max_concurrency;
  config.buffer_max_requests = spec.buffer.max_requests;
  config.buffer_timeout = std::chrono::seconds(spec.buffer.timeout_seconds);
  config.uid = function.metadata.uid;
  for (const api::TriggerSpec& trigger : spec.triggers) config.triggers.push_back(trigger.name);
  config.memory_request_bytes = api::MemoryRequestBytes(spec);
  if (!config.memory_request_bytes && spec.resources.limits.memory) {
    // Kubernetes defaults the request to the limit: that is what the pod
    // holds on its node, and what it is billed at.
    config.memory_request_bytes = api::ParseQuantity(*spec.resources.limits.memory);
  }
  return config;
}

}  // namespace zs::activator
