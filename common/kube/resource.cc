#include "common/kube/resource.h"

namespace zs::kube {

ResourceRef ResourceRef::In(std::string ns) const {
  ResourceRef out = *this;
  out.namespace_ = std::move(ns);
  return out;
}

ResourceRef ResourceRef::Named(std::string object_name) const {
  ResourceRef out = *this;
  out.name = std::move(object_name);
  return out;
}

ResourceRef ResourceRef::Sub(std::string sub) const {
  ResourceRef out = *this;
  out.subresource = std::move(sub);
  return out;
}

ResourceRef ResourceRef::Collection() const {
  ResourceRef out = *this;
  out.name.clear();
  out.subresource.clear();
  return out;
}

std::string ResourceRef::ApiVersion() const { return group.empty() ? version : group + "/" + version; }

std::string ResourceRef::Path() const {
  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!namespace_.empty()) path += "/namespaces/" + namespace_;
  path += "/" + plural;
  if (!name.empty()) {
    path += "/" + name;
    if (!subresource.empty()) path += "/" + subresource;
  }
  return path;
}

std::string ResourceRef::Key() const { return namespace_.empty() ? name : namespace_ + "/" + name; }

}  // namespace zs::kube
