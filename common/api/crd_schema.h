// The Function CRD's own OpenAPI schema, for the C++ validator.
//
// The pod settings of a Function (spec.serviceAccountName ... spec.
// containerSecurityContext) copy large Kubernetes types (affinity,
// tolerations, security contexts); rather than restate their shapes in C++,
// the validator reads them from deploy/crds/zeroscale.dev_functions.yaml,
// embedded at build time, so the two cannot drift. CheckSchema understands
// the subset of OpenAPI v3 that part of the CRD uses (it refuses to pass a
// keyword it does not know), and each CEL rule (x-kubernetes-validations)
// there has a C++ twin found by the rule's message: the CRD's message is the
// one reported. common/tests/crd_test.cc checks that every rule has one.
//
// Thread-safe: the schema is parsed once, on first use, and never changes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace zs::api {

// openAPIV3Schema.properties.spec of the embedded CRD; an empty object if it
// could not be parsed (a build defect the unit tests catch).
const nlohmann::json& CrdSpecSchema();
// Its "properties" (an empty object if none), by reference: json::value()
// would copy the whole schema on every call, and a Function is decoded on
// every autoscaler tick.
const nlohmann::json& CrdSpecProperties();

// The first violation of `schema` by `value`, as "<path>: <why>"; the CEL
// twins run once a node's structure is right. Fields the schema does not
// know are ignored (the apiserver prunes them), as the decoder does elsewhere.
absl::Status CheckSchema(const nlohmann::json& schema, const nlohmann::json& value, const std::string& path);

// `value` without the fields `schema` does not know, as the apiserver stores it.
nlohmann::json PruneToSchema(const nlohmann::json& schema, const nlohmann::json& value);

// True when a CEL rule with this message has a C++ twin.
bool HasCelTwin(std::string_view message);

// True when CheckSchema understands this OpenAPI keyword (it refuses a schema
// with any other, so the CRD cannot grow a rule the C++ would skip).
bool IsUnderstoodKeyword(std::string_view keyword);

}  // namespace zs::api
