// Addresses of Kubernetes resources: group/version/plural plus optional
// namespace, name and subresource, turned into apiserver URL paths.
//
// The constants below are collections; narrow them with In()/Named()/Sub():
//   kDeployments.In("default").Named("hello")          -> one Deployment
//   kDeployments.In("default").Named("hello").Sub("scale")
//   kPods                                               -> pods in all namespaces
//
// Value type; thread-compatible.
#pragma once

#include <string>

namespace zs::kube {

struct ResourceRef {
  std::string group;        // "" for the core group
  std::string version;      // "v1", "v1alpha1"
  std::string plural;       // "deployments"
  std::string namespace_;   // empty: cluster-scoped, or all namespaces for List/Watch
  std::string name;         // empty: the collection
  std::string subresource;  // "status", "scale", "binding", "token", ...

  ResourceRef In(std::string ns) const;
  ResourceRef Named(std::string object_name) const;
  ResourceRef Sub(std::string sub) const;
  // The collection this object belongs to (drops name and subresource).
  ResourceRef Collection() const;

  // "apps/v1", or "v1" for the core group.
  std::string ApiVersion() const;
  // "/api/v1/namespaces/default/pods/x/status", "/apis/apps/v1/deployments", ...
  std::string Path() const;
  // "namespace/name" (or "name"), the key used by caches and work queues.
  std::string Key() const;

  friend bool operator==(const ResourceRef&, const ResourceRef&) = default;
};

// Collections used by zeroscale.
inline const ResourceRef kFunctions{"zeroscale.dev", "v1alpha1", "functions", "", "", ""};
inline const ResourceRef kDeployments{"apps", "v1", "deployments", "", "", ""};
inline const ResourceRef kReplicaSets{"apps", "v1", "replicasets", "", "", ""};
inline const ResourceRef kServices{"", "v1", "services", "", "", ""};
inline const ResourceRef kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices", "", "", ""};
inline const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", "", "", ""};
inline const ResourceRef kEvents{"events.k8s.io", "v1", "events", "", "", ""};
inline const ResourceRef kCoreEvents{"", "v1", "events", "", "", ""};
inline const ResourceRef kPods{"", "v1", "pods", "", "", ""};
inline const ResourceRef kNodes{"", "v1", "nodes", "", "", ""};
inline const ResourceRef kNamespaces{"", "v1", "namespaces", "", "", ""};
inline const ResourceRef kConfigMaps{"", "v1", "configmaps", "", "", ""};
inline const ResourceRef kSecrets{"", "v1", "secrets", "", "", ""};
inline const ResourceRef kServiceAccounts{"", "v1", "serviceaccounts", "", "", ""};
inline const ResourceRef kCustomResourceDefinitions{
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "", "", ""};

// One object of a namespaced collection.
inline ResourceRef FunctionRef(std::string ns, std::string name) {
  return kFunctions.In(std::move(ns)).Named(std::move(name));
}
inline ResourceRef DeploymentRef(std::string ns, std::string name) {
  return kDeployments.In(std::move(ns)).Named(std::move(name));
}
inline ResourceRef ServiceRef(std::string ns, std::string name) {
  return kServices.In(std::move(ns)).Named(std::move(name));
}
inline ResourceRef EndpointSliceRef(std::string ns, std::string name) {
  return kEndpointSlices.In(std::move(ns)).Named(std::move(name));
}
inline ResourceRef LeaseRef(std::string ns, std::string name) {
  return kLeases.In(std::move(ns)).Named(std::move(name));
}
inline ResourceRef PodRef(std::string ns, std::string name) {
  return kPods.In(std::move(ns)).Named(std::move(name));
}
inline ResourceRef ConfigMapRef(std::string ns, std::string name) {
  return kConfigMaps.In(std::move(ns)).Named(std::move(name));
}
inline ResourceRef NodeRef(std::string name) { return kNodes.Named(std::move(name)); }
// POST target of a TokenRequest for a ServiceAccount.
inline ResourceRef ServiceAccountTokenRef(std::string ns, std::string service_account) {
  return kServiceAccounts.In(std::move(ns)).Named(std::move(service_account)).Sub("token");
}

}  // namespace zs::kube
