// --static-config: Functions and their endpoints from a JSON file, so the
// activator can run without a cluster (benchmarks, socket tests, demos).
//
//   {"functions": [
//     {"metadata": {"namespace": "default", "name": "echo"},
//      "spec": {"port": 8080, "timeoutSeconds": 30, "scaling": {"maxConcurrency": 0},
//               "buffer": {"maxRequests": 1000, "timeoutSeconds": 60},
//               "resources": {"requests": {"memory": "128Mi"}}},
//      "endpoints": ["127.0.0.1:8080", {"ip": "127.0.0.2", "port": 8080, "pod": "echo-1"}, "127.0.0.3"]}
//   ]}
//
// Each entry is a Function object (decoded by api::DecodeFunction, so the
// CRD's defaults apply; "image" may be omitted) plus "endpoints": "ip:port",
// a bare "ip" (the spec's port), or {"ip", "port", "pod"}. An entry without
// endpoints is a Function at zero: requests to it wait in the buffer.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "activator/admission/catalog.h"
#include "activator/admission/endpoints.h"

namespace zs::activator {

struct StaticFunction {
  FunctionConfig config;
  std::vector<Endpoint> endpoints;
};

absl::StatusOr<std::vector<StaticFunction>> ParseStaticConfig(const nlohmann::json& document);
absl::StatusOr<std::vector<StaticFunction>> LoadStaticConfig(const std::string& path);
// Publishes every Function and its endpoints.
void ApplyStaticConfig(const std::vector<StaticFunction>& functions, InMemoryCatalog& catalog,
                       InMemoryEndpointStore& endpoints);

}  // namespace zs::activator
