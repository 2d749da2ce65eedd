#include "common/kube/informer.h"

#include <set>

#include "common/kube/errors.h"
#include "common/log.h"
#include "common/strings.h"

namespace zs::kube {
namespace {

constexpr Duration kVeryShortWatch = std::chrono::seconds(1);

std::string ResourceVersionOf(const nlohmann::json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  return meta->value("resourceVersion", "");
}

}  // namespace

Informer::Informer(KubeClient& client, Clock& clock, const ResourceRef& collection, InformerOptions options)
    : client_(client),
      clock_(clock),
      collection_(collection.Collection()),
      options_(std::move(options)),
      rng_(std::random_device{}()) {}

Informer::~Informer() { Stop(); }

std::string Informer::KeyOf(const nlohmann::json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  std::string ns = meta->value("namespace", "");
  std::string name = meta->value("name", "");
  return ns.empty() ? name : ns + "/" + name;
}

void Informer::AddHandlers(EventHandlers handlers) { handlers_.push_back(std::move(handlers)); }

void Informer::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  stop_.Stop();
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

bool Informer::HasSynced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

bool Informer::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return synced_cv_.wait_for(lock, timeout, [&] { return synced_; });
}

std::optional<nlohmann::json> Informer::Get(const std::string& key) const {
  std::shared_ptr<const nlohmann::json> object = Find(key);
  if (!object) return std::nullopt;
  return *object;
}

std::shared_ptr<const nlohmann::json> Informer::Find(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

bool Informer::Contains(const std::string& key) const {
  std::lock_guard lock(mu_);
  return cache_.contains(key);
}

std::vector<nlohmann::json> Informer::List() const {
  std::vector<nlohmann::json> out;
  for (const auto& object : Snapshot()) out.push_back(*object);
  return out;
}

std::vector<std::shared_ptr<const nlohmann::json>> Informer::Snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const nlohmann::json>> out;
  out.reserve(cache_.size());
  for (const auto& [key, object] : cache_) out.push_back(object);
  return out;
}

std::string Informer::LastResourceVersion() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

void Informer::SetResourceVersion(const std::string& rv) {
  if (rv.empty()) return;
  std::lock_guard lock(mu_);
  resource_version_ = rv;
}

void Informer::Run() {
  Backoff backoff(clock_, options_.backoff);
  bool need_list = true;
  int watch_failures = 0;
  while (!stop_.stopped()) {
    // Backoff waits are measured from the start of the failed attempt, so the
    // schedule does not depend on how long the failure took to report (and a
    // test's clock.Advance() after it saw the attempt is never lost).
    MonotonicTime attempt_start = clock_.Now();
    if (need_list) {
      absl::Status listed = ListAndReplace();
      if (!listed.ok()) {
        if (stop_.stopped()) break;
        Duration wait = backoff.Next();
        log::Warn("informer: list failed", {{"informer", options_.name},
                                            {"error", std::string(listed.message())},
                                            {"retry_ms", static_cast<int64_t>(ToMillis(wait))}});
        stop_.WaitUntil(clock_, attempt_start + wait);
        continue;
      }
      need_list = false;
      watch_failures = 0;
      attempt_start = clock_.Now();
    }
    int events = 0;
    absl::Status watched = WatchOnce(events);
    if (stop_.stopped()) break;
    // client-go's "very short watch": a stream that ends within a second
    // without a single event (a proxy closing it, an apiserver shedding load)
    // is a failure to back off from, not a reason to watch again at once.
    if (watched.ok() && events == 0 && clock_.Now() - attempt_start < kVeryShortWatch) {
      watched = absl::UnavailableError("very short watch: the stream ended at once without an event");
    }
    if (watched.ok()) {
      // The server ended the stream (timeout): watch again right away.
      watch_failures = 0;
      backoff.Reset();
      continue;
    }
    if (kube::IsGone(watched)) {
      log::Info("informer: resourceVersion expired, relisting",
                {{"informer", options_.name}, {"error", std::string(watched.message())}});
      need_list = true;
      continue;
    }
    ++watch_failures;
    if (watch_failures >= options_.relist_after_failures) need_list = true;
    Duration wait = backoff.Next();
    log::Warn("informer: watch failed", {{"informer", options_.name},
                                         {"error", std::string(watched.message())},
                                         {"retry_ms", static_cast<int64_t>(ToMillis(wait))}});
    stop_.WaitUntil(clock_, attempt_start + wait);
  }
}

absl::Status Informer::ListAndReplace() {
  ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.field_selector = options_.field_selector;
  list_options.limit = options_.page_size;
  absl::StatusOr<nlohmann::json> list = client_.ListAll(collection_, list_options);
  list_count_.fetch_add(1);
  if (!list.ok()) return list.status();

  std::map<std::string, std::shared_ptr<const nlohmann::json>> fresh;
  if (auto items = list->find("items"); items != list->end() && items->is_array()) {
    for (auto& item : *items) {
      std::string key = KeyOf(item);
      if (key.empty()) continue;
      Trim(item);
      fresh[key] = std::make_shared<const nlohmann::json>(std::move(item));
    }
  }
  std::string rv;
  if (auto meta = list->find("metadata"); meta != list->end() && meta->is_object()) {
    rv = meta->value("resourceVersion", "");
  }

  // Work out the differences under the lock, call handlers outside it.
  using Shared = std::shared_ptr<const nlohmann::json>;
  std::vector<Shared> added;
  std::vector<std::pair<Shared, Shared>> updated;
  std::vector<Shared> deleted;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, object] : cache_) {
      if (!fresh.contains(key)) deleted.push_back(object);
    }
    for (const auto& [key, object] : fresh) {
      auto old = cache_.find(key);
      if (old == cache_.end()) {
        added.push_back(object);
      } else if (ResourceVersionOf(*old->second) != ResourceVersionOf(*object)) {
        updated.emplace_back(old->second, object);
      }
    }
    cache_ = std::move(fresh);
    resource_version_ = rv;
  }
  for (const auto& handlers : handlers_) {
    for (const auto& object : deleted) {
      if (handlers.on_delete) handlers.on_delete(*object);
    }
    for (const auto& object : added) {
      if (handlers.on_add) handlers.on_add(*object);
    }
    for (const auto& [old_object, new_object] : updated) {
      if (handlers.on_update) handlers.on_update(*old_object, *new_object);
    }
  }
  {
    std::lock_guard lock(mu_);
    synced_ = true;
  }
  synced_cv_.notify_all();
  return absl::OkStatus();
}

absl::Status Informer::WatchOnce(int& events) {
  WatchOptions watch_options;
  watch_options.label_selector = options_.label_selector;
  watch_options.field_selector = options_.field_selector;
  watch_options.resource_version = LastResourceVersion();
  watch_options.allow_bookmarks = true;
  if (options_.watch_timeout_seconds > 0) {
    // Spread reconnects of many informers over [t, 2t), as client-go does.
    std::uniform_int_distribution<int64_t> spread(options_.watch_timeout_seconds,
                                                  2 * options_.watch_timeout_seconds - 1);
    watch_options.timeout_seconds = spread(rng_);
  }
  watch_options.cancel = &cancel_;
  absl::Status gone = absl::OkStatus();
  absl::Status watched = client_.Watch(collection_, watch_options, [&](const WatchEvent& event) {
    if (stop_.stopped()) return false;
    ++events;
    if (event.type == WatchEventType::kError) {
      int code = event.object.value("code", 0);
      std::string message = event.object.value("message", "watch error event");
      // 410: our resourceVersion is too old. Anything else: reconnect.
      gone = code == 410 ? StatusFromHttp(410, event.object.dump())
                         : absl::UnavailableError(Cat("watch ERROR event: ", message));
      return false;
    }
    Apply(event);
    return true;
  });
  if (!gone.ok()) return gone;
  return watched;
}

void Informer::Trim(nlohmann::json& object) const {
  if (!options_.strip_managed_fields) return;
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object())
    meta->erase("managedFields");
}

void Informer::Apply(const WatchEvent& event) {
  const std::string rv = ResourceVersionOf(event.object);
  if (event.type == WatchEventType::kBookmark) {
    SetResourceVersion(rv);
    return;
  }
  const std::string key = KeyOf(event.object);
  if (key.empty()) return;
  nlohmann::json trimmed = event.object;
  Trim(trimmed);
  auto object = std::make_shared<const nlohmann::json>(std::move(trimmed));
  std::shared_ptr<const nlohmann::json> old;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) old = it->second;
    if (event.type == WatchEventType::kDeleted) {
      cache_.erase(key);
    } else {
      cache_[key] = object;
    }
    if (!rv.empty()) resource_version_ = rv;
  }
  for (const auto& handlers : handlers_) {
    if (event.type == WatchEventType::kDeleted) {
      if (handlers.on_delete) handlers.on_delete(*object);
    } else if (old) {
      if (handlers.on_update) handlers.on_update(*old, *object);
    } else {
      if (handlers.on_add) handlers.on_add(*object);
    }
  }
}

}  // namespace zs::kube
