// FakeKubeClient: an in-memory apiserver for unit tests of code that uses
// KubeClient (informers, leader election, reconcilers).
//
// What it models: objects per resource (group/version/plural), namespaces,
// a global resourceVersion counter, uid/creationTimestamp/generation on
// create, optimistic concurrency (409 Conflict on a stale resourceVersion,
// 409 AlreadyExists), merge patches (RFC 7386), the status subresource (PUT/
// PATCH .../status change only .status; a main PUT keeps the old .status),
// the scale subresource (spec.replicas; a resourceVersion in a scale patch
// is a precondition, as on the apiserver), deletes with preconditions, list with
// equality label selectors and metadata.name/metadata.namespace/spec.nodeName
// field selectors, and watches that replay history after a resourceVersion
// and then block for new events. Server-side apply is modelled per field
// manager: its last configuration is remembered, a field it applied before
// and leaves out now is removed unless another manager's configuration sets
// it (arrays count as one field), a resourceVersion in the configuration is
// a precondition, a no-op apply writes nothing, and a Deployment's removed
// spec.replicas defaults to 1. Not modelled: ownership taken by non-apply
// writes, conflicts between managers (every apply is forced), admission,
// other defaulting, validation, finalizers, owner-reference garbage
// collection.
//
// Test hooks: FailNext() injects an error for the next call of a verb;
// Compact() forgets watch history (a watch from before it gets 410 Gone, as
// after etcd compaction); EndWatches() ends every open watch stream as the
// apiserver's timeoutSeconds would; SetCreateHook() handles POSTs to
// subresources (pods/binding, serviceaccounts/token).
//
// Thread-safety: every method from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/kube/client.h"

namespace zs::kube::testing {

class FakeKubeClient : public KubeClient {
 public:
  FakeKubeClient() = default;

  absl::StatusOr<nlohmann::json> Get(const ResourceRef& ref) override;
  absl::StatusOr<nlohmann::json> List(const ResourceRef& collection, const ListOptions& options) override;
  absl::StatusOr<nlohmann::json> Create(const ResourceRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) override;
  absl::StatusOr<nlohmann::json> Update(const ResourceRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) override;
  absl::StatusOr<nlohmann::json> Patch(const ResourceRef& ref, PatchType type, const nlohmann::json& patch,
                                       const WriteOptions& options = {}) override;
  absl::StatusOr<nlohmann::json> Apply(const ResourceRef& ref, const nlohmann::json& object,
                                       const ApplyOptions& options) override;
  absl::StatusOr<nlohmann::json> Delete(const ResourceRef& ref, const DeleteOptions& options = {}) override;
  absl::Status Watch(const ResourceRef& collection, const WatchOptions& options,
                     const WatchHandler& handler) override;

  // --- test hooks ---
  // Verbs: "get", "list", "create", "update", "patch", "apply", "delete", "watch".
  void FailNext(const std::string& verb, const absl::Status& status, int times = 1);
  void Compact();
  void EndWatches();
  using CreateHook =
      std::function<absl::StatusOr<nlohmann::json>(const ResourceRef& ref, const nlohmann::json&)>;
  // Called for Create() on refs with a subresource.
  void SetCreateHook(CreateHook hook);
  // Number of calls per verb so far.
  int Calls(const std::string& verb) const;
  // Number of watch streams currently open.
  int OpenWatches() const;
  // Stores an object as is (resourceVersion assigned), bypassing checks.
  nlohmann::json Seed(const ResourceRef& collection, nlohmann::json object);

 private:
  struct Event {
    int64_t rv;
    std::string collection;  // group/version/plural
    std::string ns;
    WatchEvent event;
  };
  static std::string TypeKey(const ResourceRef& ref);
  static std::string ObjectKey(const ResourceRef& ref);
  absl::Status TakeFailure(const std::string& verb);
  nlohmann::json StoreLocked(const ResourceRef& ref, nlohmann::json object, WatchEventType type);
  absl::StatusOr<nlohmann::json> WriteLocked(const ResourceRef& ref, const nlohmann::json& object);
  absl::StatusOr<nlohmann::json> CreateLocked(const ResourceRef& ref, const nlohmann::json& object);
  absl::StatusOr<nlohmann::json> PatchLocked(const ResourceRef& ref, PatchType type,
                                             const nlohmann::json& patch);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t rv_ = 100;
  int64_t uid_ = 0;
  int64_t compacted_rv_ = 0;
  int64_t watch_generation_ = 0;
  int open_watches_ = 0;
  std::map<std::string, std::map<std::string, nlohmann::json>> objects_;  // type -> "ns/name" -> object
  std::deque<Event> history_;
  std::map<std::string, std::deque<absl::Status>> failures_;
  std::map<std::string, int> calls_;
  // "type ns/name" -> field manager -> its last applied configuration.
  std::map<std::string, std::map<std::string, nlohmann::json>> applied_;
  CreateHook create_hook_;
};

}  // namespace zs::kube::testing
