#include "common/kube/client.h"

namespace zs::kube {

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "ERROR";
}

std::unique_ptr<KubeClient> KubeClient::WithTimeout(Duration /*timeout*/) {
  return std::make_unique<ForwardingKubeClient>(*this);
}

absl::StatusOr<nlohmann::json> KubeClient::ListAll(const ResourceRef& collection,
                                                   const ListOptions& options) {
  ListOptions page_options = options;
  nlohmann::json result;
  nlohmann::json items = nlohmann::json::array();
  for (bool first = true;; first = false) {
    absl::StatusOr<nlohmann::json> page = List(collection, page_options);
    if (!page.ok()) return page.status();
    if (first) {
      result = *page;
      result.erase("items");
    }
    if (auto it = page->find("items"); it != page->end() && it->is_array()) {
      for (auto& item : *it) items.push_back(std::move(item));
    }
    std::string next;
    if (auto meta = page->find("metadata"); meta != page->end() && meta->is_object()) {
      next = meta->value("continue", "");
    }
    if (next.empty() || options.limit <= 0) break;
    page_options.continue_token = next;
    // Later pages are served from the first page's snapshot via the token.
    page_options.resource_version.clear();
  }
  result["items"] = std::move(items);
  if (result.contains("metadata") && result["metadata"].is_object()) result["metadata"].erase("continue");
  return result;
}

absl::StatusOr<nlohmann::json> KubeClient::RequestToken(const std::string& ns,
                                                        const std::string& service_account,
                                                        int64_t expiration_seconds,
                                                        const std::vector<std::string>& audiences,
                                                        const std::string& bound_pod_name,
                                                        const std::string& bound_pod_uid) {
  nlohmann::json spec = {{"expirationSeconds", expiration_seconds}};
  if (!audiences.empty()) spec["audiences"] = audiences;
  if (!bound_pod_name.empty()) {
    spec["boundObjectRef"] = {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", bound_pod_name}};
    if (!bound_pod_uid.empty()) spec["boundObjectRef"]["uid"] = bound_pod_uid;
  }
  nlohmann::json request = {
      {"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", std::move(spec)}};
  return Create(ServiceAccountTokenRef(ns, service_account), request);
}

}  // namespace zs::kube
