// What the activator needs to know about one Function: the slice of its spec
// that routing, buffering, balancing, timeouts and billing read.
//
// A FunctionConfig is immutable once published: the catalog hands out
// shared_ptr<const FunctionConfig>, and a spec change publishes a new one, so
// a request keeps the config it started with.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/api/function.h"

namespace zs::activator {

// Identifies a Function: namespace and name.
struct FunctionKey {
  std::string ns;
  std::string name;

  // "namespace/name", as Kubernetes caches and the error bodies (docs/invocation.md) spell it.
  std::string String() const;
  friend bool operator==(const FunctionKey&, const FunctionKey&) = default;
};

struct FunctionKeyHash {
  size_t operator()(const FunctionKey& key) const {
    return std::hash<std::string>()(key.ns) * 31 + std::hash<std::string>()(key.name);
  }
};

struct FunctionConfig {
  FunctionKey key;
  // The container port; used for endpoints that come without a port.
  uint16_t port = static_cast<uint16_t>(api::Defaults::kPort);
  // Longest one invocation may take, from forward to last response byte.
  std::chrono::milliseconds timeout{std::chrono::seconds(api::Defaults::kTimeoutSeconds)};
  // Hard cap of requests in flight on one replica; 0 = none.
  int32_t max_concurrency = api::Defaults::kMaxConcurrency;
  // Requests held while no replica can take them, and how long each may wait.
  int32_t buffer_max_requests = api::Defaults::kBufferMaxRequests;
  std::chrono::milliseconds buffer_timeout{std::chrono::seconds(api::Defaults::kBufferTimeoutSeconds)};
  // The memory request Kubernetes schedules by, in bytes: requests.memory,
  // else limits.memory (Kubernetes defaults a missing request to the limit);
  // nullopt when neither is set (billed at --default-memory).
  std::optional<double> memory_request_bytes;
  // Set by InMemoryCatalog::Upsert: the same for every config of one
  // Function object (spec changes keep it), new after a delete and
  // re-create, so per-Function state of a deleted Function never leaks into
  // its successor of the same name. 0: never published.
  uint64_t incarnation = 0;
  // metadata.uid when known; a new uid under the same name is a new Function.
  std::string uid;
  // spec.triggers[].name: the marks a billing line may carry (http/headers.h
  // TriggerOf).
  std::vector<std::string> triggers;
};

// Reads the activator's slice out of a decoded Function (defaults already
// applied by api::DecodeFunction).
FunctionConfig FunctionConfigFromApi(const api::Function& function);

}  // namespace zs::activator
