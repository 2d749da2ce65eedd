// Kubernetes object metadata as the controller and activator use it, decoded
// from and encoded to the apiserver's JSON. Unknown fields are ignored on
// decode; encode writes only what is set.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zs::api {

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;

  friend bool operator==(const OwnerReference&, const OwnerReference&) = default;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;
  std::string creation_timestamp;
  std::optional<std::string> deletion_timestamp;

  // "namespace/name", the key used by caches and work queues.
  std::string Key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
};

ObjectMeta DecodeObjectMeta(const nlohmann::json& metadata);
nlohmann::json EncodeObjectMeta(const ObjectMeta& meta);
nlohmann::json EncodeOwnerReference(const OwnerReference& ref);

}  // namespace zs::api
