// Informer: keeps an in-memory copy of a collection in sync with the
// apiserver and tells handlers what changed (client-go's Reflector +
// Informer in one class).
//
// Loop (on the informer's own thread):
//   1. LIST (paged), replace the cache: new keys -> OnAdd, changed
//      resourceVersion -> OnUpdate, keys gone since the last list -> OnDelete
//      (so a relist after a gap synthesizes the deletes that were missed).
//   2. WATCH from the list's resourceVersion with bookmarks; apply events
//      (ADDED/MODIFIED/DELETED, BOOKMARK only advances the resourceVersion).
//   3. The stream ends (server timeout): watch again from the last seen
//      resourceVersion; a stream that ended within a second without any
//      event counts as a failure (client-go's "very short watch"). A
//      malformed event ends the stream with an error (the client never skips
//      one), so the watch restarts from the last good resourceVersion and the
//      event is delivered again. 410 Gone (HTTP or an ERROR event with code 410):
//      relist. Other errors: back off (exponential with jitter, on the
//      injected Clock), then watch again, relisting after repeated failures.
//
// Keys are "namespace/name" ("name" for cluster-scoped objects).
//
// Lifecycle: construct, AddHandlers(), Start(); Stop() (also in the
// destructor) cancels the watch and joins the thread; an informer is not
// restartable. Handlers are called
// only from the informer thread, one at a time, after the cache was updated;
// they must not call Stop(). Get/List/Find/Snapshot/HasSynced may be called
// from any thread (the cache is guarded by a mutex; Get and List return
// copies, Find and Snapshot the cached objects, shared and immutable).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/kube/backoff.h"
#include "common/kube/client.h"

namespace zs::kube {

struct EventHandlers {
  std::function<void(const nlohmann::json& object)> on_add;
  std::function<void(const nlohmann::json& old_object, const nlohmann::json& new_object)> on_update;
  std::function<void(const nlohmann::json& object)> on_delete;
};

struct InformerOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;
  // Server-side watch timeout; a random value in [t, 2t) spreads reconnects.
  int64_t watch_timeout_seconds = 300;
  BackoffOptions backoff;
  // After this many consecutive watch failures, relist instead of re-watching.
  int relist_after_failures = 3;
  // Drop metadata.managedFields before caching (controller-runtime's default
  // transform): nothing here reads them, and on a server-side-applied object
  // they are often the largest part of it.
  bool strip_managed_fields = true;
  std::string name;  // for logs, e.g. "pods"
};

class Informer {
 public:
  Informer(KubeClient& client, Clock& clock, const ResourceRef& collection, InformerOptions options = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Before Start(); handlers run in registration order.
  void AddHandlers(EventHandlers handlers);
  void Start();
  void Stop();

  // True once the first list was delivered to the handlers.
  bool HasSynced() const;
  // Blocks (real time, bounded by timeout) until HasSynced().
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  std::optional<nlohmann::json> Get(const std::string& key) const;
  // Get without the copy, for hot paths that only ask whether it exists.
  bool Contains(const std::string& key) const;
  std::vector<nlohmann::json> List() const;
  // The cached objects themselves, shared and immutable (an event replaces
  // an object, never changes it): no copy, for loops over every object.
  std::shared_ptr<const nlohmann::json> Find(const std::string& key) const;
  std::vector<std::shared_ptr<const nlohmann::json>> Snapshot() const;
  // resourceVersion the informer is at (last list, event or bookmark).
  std::string LastResourceVersion() const;
  // Number of LISTs done (tests: a 410 causes a relist).
  int64_t list_count() const { return list_count_.load(); }

  static std::string KeyOf(const nlohmann::json& object);

 private:
  void Run();
  absl::Status ListAndReplace();
  // Returns OK when the stream ended normally, IsGone() to relist.
  // `events` counts what the stream delivered (a stream that ends at once
  // without any is backed off from).
  absl::Status WatchOnce(int& events);
  void Apply(const WatchEvent& event);
  void Trim(nlohmann::json& object) const;
  void SetResourceVersion(const std::string& rv);

  KubeClient& client_;
  Clock& clock_;
  const ResourceRef collection_;
  const InformerOptions options_;
  std::vector<EventHandlers> handlers_;

  mutable std::mutex mu_;
  mutable std::condition_variable synced_cv_;
  std::map<std::string, std::shared_ptr<const nlohmann::json>> cache_;
  std::string resource_version_;
  bool synced_ = false;

  StopSignal stop_;
  std::atomic<int64_t> list_count_{0};
  Cancellation cancel_;
  std::thread thread_;
  std::mt19937_64 rng_;
};

}  // namespace zs::kube
