// KubeClient: the seam between zeroscale and the Kubernetes API.
//
// A small interface over the apiserver's REST verbs; objects are
// nlohmann::json exactly as the apiserver sends them. The production
// implementation is CurlKubeClient (curl_client.h); tests use
// zs::kube::testing::MockKubeClient (gmock) or FakeKubeClient (an in-memory
// apiserver with resourceVersions, conflicts and watches), both in testing/.
//
// Errors are absl::Status built by errors.h: IsNotFound(), IsConflict(),
// IsGone(), HttpCode() and Reason() inspect them.
//
// Subresources are addressed through ResourceRef::subresource; the
// non-virtual helpers below (UpdateStatus, PatchScale, RequestToken, ...) are
// spelled in terms of the virtual verbs, so a mock only needs the verbs.
//
// Thread-safety: implementations are safe to call from any number of
// threads at once. Watch blocks its caller until the stream ends.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/kube/resource.h"

namespace zs::kube {

struct ListOptions {
  std::string label_selector;  // "app=x,tier!=db"
  std::string field_selector;  // "spec.nodeName=zs-node"
  // "" = most recent (quorum read); "0" = any (from the watch cache).
  std::string resource_version;
  int64_t limit = 0;           // 0 = no paging
  std::string continue_token;  // from a previous page's metadata.continue
};

// Cancels a blocking Watch from another thread; the Watch returns OK promptly
// (within ~100 ms) after Cancel(). Reusable after Reset().
class Cancellation {
 public:
  void Cancel() { cancelled_.store(true); }
  void Reset() { cancelled_.store(false); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // usually the list's metadata.resourceVersion
  bool allow_bookmarks = true;
  // Server-side end of the stream; 0 = the apiserver's default (30-60 min).
  int64_t timeout_seconds = 0;
  // Optional; not owned; must outlive the Watch call.
  const Cancellation* cancel = nullptr;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
std::string_view WatchEventTypeName(WatchEventType type);

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  // The object; for kError a metav1.Status (code 410 = resourceVersion gone).
  nlohmann::json object;
};

// Return false to end the watch (Watch then returns OK).
using WatchHandler = std::function<bool(const WatchEvent&)>;

struct WriteOptions {
  std::string field_manager;  // optional for create/update/patch
  bool dry_run = false;
};

struct ApplyOptions {
  std::string field_manager;  // required by server-side apply
  bool force = false;         // take ownership of conflicting fields
  bool dry_run = false;
};

struct DeleteOptions {
  std::string propagation_policy;               // "", "Foreground", "Background", "Orphan"
  std::optional<int64_t> grace_period_seconds;  // pods: 0 = immediately
  std::string precondition_uid;                 // delete only this incarnation
  std::string precondition_resource_version;    // delete only this version
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in types only)
  kJson,            // application/json-patch+json (RFC 6902)
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // --- the verbs (virtual; what a mock implements) ---

  // GET one object.
  virtual absl::StatusOr<nlohmann::json> Get(const ResourceRef& ref) = 0;
  // GET a collection (ref.name empty); returns the List object with
  // metadata.resourceVersion and metadata.continue.
  virtual absl::StatusOr<nlohmann::json> List(const ResourceRef& collection, const ListOptions& options) = 0;
  // POST to the collection (ref.name empty) or to a subresource of a named
  // object (binding, token, eviction).
  virtual absl::StatusOr<nlohmann::json> Create(const ResourceRef& ref, const nlohmann::json& object,
                                                const WriteOptions& options = {}) = 0;
  // PUT; object.metadata.resourceVersion makes it optimistic (409 if stale).
  virtual absl::StatusOr<nlohmann::json> Update(const ResourceRef& ref, const nlohmann::json& object,
                                                const WriteOptions& options = {}) = 0;
  virtual absl::StatusOr<nlohmann::json> Patch(const ResourceRef& ref, PatchType type,
                                               const nlohmann::json& patch,
                                               const WriteOptions& options = {}) = 0;
  // Server-side apply: PATCH application/apply-patch+yaml (JSON is YAML).
  virtual absl::StatusOr<nlohmann::json> Apply(const ResourceRef& ref, const nlohmann::json& object,
                                               const ApplyOptions& options) = 0;
  // DELETE; returns the object (still terminating) or a Status object.
  virtual absl::StatusOr<nlohmann::json> Delete(const ResourceRef& ref,
                                                const DeleteOptions& options = {}) = 0;
  // Streams watch events of a collection to `handler` until the server ends
  // the stream (OK), the handler returns false (OK), options.cancel fires
  // (OK), or the request fails (error; IsGone() when resource_version is too
  // old to start from). Malformed lines are skipped and logged.
  virtual absl::Status Watch(const ResourceRef& collection, const WatchOptions& options,
                             const WatchHandler& handler) = 0;

  // A client for the same apiserver whose every request except Watch ends
  // within `timeout` (connecting included), failing with a transport error
  // otherwise: how a caller with a deadline (the leader elector's renew
  // deadline) bounds its calls, as a Go caller would with a context. The view
  // borrows this client and must not outlive it. The default forwards without
  // a bound, which is right for in-memory fakes whose calls never block;
  // clients that do I/O override it.
  virtual std::unique_ptr<KubeClient> WithTimeout(Duration timeout);

  // --- helpers spelled with the verbs ---

  absl::StatusOr<nlohmann::json> MergePatch(const ResourceRef& ref, const nlohmann::json& patch,
                                            const WriteOptions& options = {}) {
    return Patch(ref, PatchType::kMerge, patch, options);
  }
  absl::StatusOr<nlohmann::json> ServerSideApply(const ResourceRef& ref, const nlohmann::json& object,
                                                 const ApplyOptions& options) {
    return Apply(ref, object, options);
  }
  // PUT .../status (object.metadata.resourceVersion is honoured).
  absl::StatusOr<nlohmann::json> UpdateStatus(const ResourceRef& ref, const nlohmann::json& object,
                                              const WriteOptions& options = {}) {
    return Update(ref.Sub("status"), object, options);
  }
  // PATCH .../status with a merge patch, e.g. {"status":{"readyReplicas":1}}.
  absl::StatusOr<nlohmann::json> PatchStatus(const ResourceRef& ref, const nlohmann::json& patch,
                                             const WriteOptions& options = {}) {
    return Patch(ref.Sub("status"), PatchType::kMerge, patch, options);
  }
  // autoscaling/v1 Scale of a Deployment (or any scalable resource).
  absl::StatusOr<nlohmann::json> GetScale(const ResourceRef& ref) { return Get(ref.Sub("scale")); }
  absl::StatusOr<nlohmann::json> PatchScale(const ResourceRef& ref, int64_t replicas,
                                            const WriteOptions& options = {}) {
    return Patch(ref.Sub("scale"), PatchType::kMerge, {{"spec", {{"replicas", replicas}}}}, options);
  }
  // Every item of a collection, following `continue` pages of options.limit
  // (0 = one request). Returns a List whose metadata.resourceVersion is the
  // first page's (the consistent snapshot a watch may start from).
  absl::StatusOr<nlohmann::json> ListAll(const ResourceRef& collection, const ListOptions& options);
  // TokenRequest (authentication.k8s.io/v1) for a ServiceAccount; returns
  // status.token etc. Empty audiences = the apiserver's default audience.
  // bound_pod (name+uid) ties the token's lifetime to a pod.
  absl::StatusOr<nlohmann::json> RequestToken(const std::string& ns, const std::string& service_account,
                                              int64_t expiration_seconds,
                                              const std::vector<std::string>& audiences = {},
                                              const std::string& bound_pod_name = "",
                                              const std::string& bound_pod_uid = "");
};

// Forwards every verb to another client: a base for decorators (the default
// WithTimeout, test clients that stall or fail one verb). WithTimeout is not
// forwarded: a decorator that bounds its calls overrides it.
class ForwardingKubeClient : public KubeClient {
 public:
  explicit ForwardingKubeClient(KubeClient& target) : target_(target) {}

  absl::StatusOr<nlohmann::json> Get(const ResourceRef& ref) override { return target_.Get(ref); }
  absl::StatusOr<nlohmann::json> List(const ResourceRef& collection, const ListOptions& options) override {
    return target_.List(collection, options);
  }
  absl::StatusOr<nlohmann::json> Create(const ResourceRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) override {
    return target_.Create(ref, object, options);
  }
  absl::StatusOr<nlohmann::json> Update(const ResourceRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) override {
    return target_.Update(ref, object, options);
  }
  absl::StatusOr<nlohmann::json> Patch(const ResourceRef& ref, PatchType type, const nlohmann::json& patch,
                                       const WriteOptions& options = {}) override {
    return target_.Patch(ref, type, patch, options);
  }
  absl::StatusOr<nlohmann::json> Apply(const ResourceRef& ref, const nlohmann::json& object,
                                       const ApplyOptions& options) override {
    return target_.Apply(ref, object, options);
  }
  absl::StatusOr<nlohmann::json> Delete(const ResourceRef& ref, const DeleteOptions& options = {}) override {
    return target_.Delete(ref, options);
  }
  absl::Status Watch(const ResourceRef& collection, const WatchOptions& options,
                     const WatchHandler& handler) override {
    return target_.Watch(collection, options, handler);
  }

 protected:
  KubeClient& target() { return target_; }

 private:
  KubeClient& target_;
};

}  // namespace zs::kube
