#include "common/api/meta.h"

namespace zs::api {
namespace {
std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
std::map<std::string, std::string> StrMap(const nlohmann::json& j, const char* key) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return out;
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    if (kv->is_string()) out[kv.key()] = kv->get<std::string>();
  }
  return out;
}
}  // namespace

ObjectMeta DecodeObjectMeta(const nlohmann::json& m) {
  ObjectMeta meta;
  if (!m.is_object()) return meta;
  meta.name = Str(m, "name");
  meta.namespace_ = Str(m, "namespace");
  meta.uid = Str(m, "uid");
  meta.resource_version = Str(m, "resourceVersion");
  if (auto it = m.find("generation"); it != m.end() && it->is_number_integer()) {
    meta.generation = it->get<int64_t>();
  }
  meta.labels = StrMap(m, "labels");
  meta.annotations = StrMap(m, "annotations");
  meta.creation_timestamp = Str(m, "creationTimestamp");
  if (auto it = m.find("deletionTimestamp"); it != m.end() && it->is_string()) {
    meta.deletion_timestamp = it->get<std::string>();
  }
  if (auto it = m.find("ownerReferences"); it != m.end() && it->is_array()) {
    for (const auto& r : *it) {
      OwnerReference ref;
      ref.api_version = Str(r, "apiVersion");
      ref.kind = Str(r, "kind");
      ref.name = Str(r, "name");
      ref.uid = Str(r, "uid");
      ref.controller = r.value("controller", false);
      ref.block_owner_deletion = r.value("blockOwnerDeletion", false);
      meta.owner_references.push_back(std::move(ref));
    }
  }
  return meta;
}

nlohmann::json EncodeOwnerReference(const OwnerReference& ref) {
  return {{"apiVersion", ref.api_version},
          {"kind", ref.kind},
          {"name", ref.name},
          {"uid", ref.uid},
          {"controller", ref.controller},
          {"blockOwnerDeletion", ref.block_owner_deletion}};
}

nlohmann::json EncodeObjectMeta(const ObjectMeta& meta) {
  nlohmann::json m = nlohmann::json::object();
  if (!meta.name.empty()) m["name"] = meta.name;
  if (!meta.namespace_.empty()) m["namespace"] = meta.namespace_;
  if (!meta.uid.empty()) m["uid"] = meta.uid;
  if (!meta.resource_version.empty()) m["resourceVersion"] = meta.resource_version;
  if (!meta.labels.empty()) m["labels"] = meta.labels;
  if (!meta.annotations.empty()) m["annotations"] = meta.annotations;
  if (!meta.owner_references.empty()) {
    m["ownerReferences"] = nlohmann::json::array();
    for (const auto& ref : meta.owner_references) m["ownerReferences"].push_back(EncodeOwnerReference(ref));
  }
  return m;
}

}  // namespace zs::api
