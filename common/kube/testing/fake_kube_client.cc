#include "common/kube/testing/fake_kube_client.h"

#include "common/kube/errors.h"
#include "common/strings.h"

namespace zs::kube::testing {
namespace {

std::string StatusJson(int code, const std::string& reason, const std::string& message) {
  return nlohmann::json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                        {"code", code},     {"reason", reason},   {"message", message}}
      .dump();
}

absl::Status NotFound(const ResourceRef& ref) {
  return StatusFromHttp(404, StatusJson(404, "NotFound", Cat(ref.plural, " \"", ref.name, "\" not found")));
}

std::string MetaString(const nlohmann::json& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  return meta->value(field, "");
}

// Equality-based selectors: "a=b,c!=d,e" (e: label exists).
bool MatchesLabels(const nlohmann::json& object, const std::string& selector) {
  if (selector.empty()) return true;
  nlohmann::json labels =
      object.value("metadata", nlohmann::json::object()).value("labels", nlohmann::json::object());
  size_t start = 0;
  while (start <= selector.size()) {
    size_t comma = selector.find(',', start);
    std::string term = selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? selector.size() + 1 : comma + 1;
    if (term.empty()) continue;
    size_t neq = term.find("!=");
    size_t eq = term.find('=');
    if (neq != std::string::npos) {
      std::string key = term.substr(0, neq);
      std::string value = term.substr(neq + 2);
      if (labels.contains(key) && labels[key] == value) return false;
    } else if (eq != std::string::npos) {
      std::string key = term.substr(0, eq);
      std::string value = term.substr(term[eq + 1] == '=' ? eq + 2 : eq + 1);
      if (!labels.contains(key) || labels[key] != value) return false;
    } else if (!labels.contains(term)) {
      return false;
    }
  }
  return true;
}

bool MatchesFields(const nlohmann::json& object, const std::string& selector) {
  if (selector.empty()) return true;
  size_t start = 0;
  while (start <= selector.size()) {
    size_t comma = selector.find(',', start);
    std::string term = selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? selector.size() + 1 : comma + 1;
    if (term.empty()) continue;
    bool negate = term.find("!=") != std::string::npos;
    size_t eq = term.find(negate ? "!=" : "=");
    std::string key = term.substr(0, eq);
    std::string value = term.substr(eq + (negate ? 2 : 1));
    std::string actual;
    if (key == "metadata.name") {
      actual = MetaString(object, "name");
    } else if (key == "metadata.namespace") {
      actual = MetaString(object, "namespace");
    } else if (key == "spec.nodeName") {
      actual = object.value("spec", nlohmann::json::object()).value("nodeName", "");
    } else if (key == "status.phase") {
      actual = object.value("status", nlohmann::json::object()).value("phase", "");
    }
    if ((actual == value) == negate) return false;
  }
  return true;
}

}  // namespace

std::string FakeKubeClient::TypeKey(const ResourceRef& ref) {
  return ref.group + "/" + ref.version + "/" + ref.plural;
}
std::string FakeKubeClient::ObjectKey(const ResourceRef& ref) { return ref.namespace_ + "/" + ref.name; }

absl::Status FakeKubeClient::TakeFailure(const std::string& verb) {
  ++calls_[verb];
  auto it = failures_.find(verb);
  if (it == failures_.end() || it->second.empty()) return absl::OkStatus();
  absl::Status status = it->second.front();
  it->second.pop_front();
  return status;
}

void FakeKubeClient::FailNext(const std::string& verb, const absl::Status& status, int times) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < times; ++i) failures_[verb].push_back(status);
}

void FakeKubeClient::Compact() {
  std::lock_guard lock(mu_);
  compacted_rv_ = rv_;
  history_.clear();
}

void FakeKubeClient::EndWatches() {
  {
    std::lock_guard lock(mu_);
    ++watch_generation_;
  }
  cv_.notify_all();
}

void FakeKubeClient::SetCreateHook(CreateHook hook) {
  std::lock_guard lock(mu_);
  create_hook_ = std::move(hook);
}

int FakeKubeClient::Calls(const std::string& verb) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(verb);
  return it == calls_.end() ? 0 : it->second;
}

int FakeKubeClient::OpenWatches() const {
  std::lock_guard lock(mu_);
  return open_watches_;
}

nlohmann::json FakeKubeClient::StoreLocked(const ResourceRef& ref, nlohmann::json object,
                                           WatchEventType type) {
  object["metadata"]["resourceVersion"] = std::to_string(++rv_);
  if (type == WatchEventType::kDeleted) {
    objects_[TypeKey(ref)].erase(ObjectKey(ref));
  } else {
    objects_[TypeKey(ref)][ObjectKey(ref)] = object;
  }
  history_.push_back(Event{rv_, TypeKey(ref), ref.namespace_, WatchEvent{type, object}});
  cv_.notify_all();
  return object;
}

nlohmann::json FakeKubeClient::Seed(const ResourceRef& collection, nlohmann::json object) {
  std::lock_guard lock(mu_);
  ResourceRef ref = collection.In(MetaString(object, "namespace")).Named(MetaString(object, "name"));
  return StoreLocked(ref, std::move(object), WatchEventType::kAdded);
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Get(const ResourceRef& ref) {
  std::lock_guard lock(mu_);
  if (absl::Status s = TakeFailure("get"); !s.ok()) return s;
  auto& objects = objects_[TypeKey(ref)];
  auto it = objects.find(ObjectKey(ref));
  if (it == objects.end()) return NotFound(ref);
  if (ref.subresource == "scale") {
    return nlohmann::json{
        {"apiVersion", "autoscaling/v1"},
        {"kind", "Scale"},
        {"metadata", it->second["metadata"]},
        {"spec", {{"replicas", it->second["spec"].value("replicas", 0)}}},
        {"status",
         {{"replicas", it->second.value("status", nlohmann::json::object()).value("replicas", 0)}}}};
  }
  return it->second;
}

absl::StatusOr<nlohmann::json> FakeKubeClient::List(const ResourceRef& collection,
                                                    const ListOptions& options) {
  std::lock_guard lock(mu_);
  if (absl::Status s = TakeFailure("list"); !s.ok()) return s;
  nlohmann::json items = nlohmann::json::array();
  for (const auto& [key, object] : objects_[TypeKey(collection)]) {
    if (!collection.namespace_.empty() && MetaString(object, "namespace") != collection.namespace_) continue;
    if (!MatchesLabels(object, options.label_selector) || !MatchesFields(object, options.field_selector))
      continue;
    items.push_back(object);
  }
  return nlohmann::json{{"kind", "List"},
                        {"apiVersion", collection.ApiVersion()},
                        {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                        {"items", std::move(items)}};
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Create(const ResourceRef& ref, const nlohmann::json& object,
                                                      const WriteOptions& options) {
  CreateHook hook;
  {
    std::lock_guard lock(mu_);
    if (absl::Status s = TakeFailure("create"); !s.ok()) return s;
    hook = create_hook_;
  }
  if (!ref.subresource.empty()) {
    if (!hook) return absl::UnimplementedError(Cat("fake: POST ", ref.Path()));
    return hook(ref, object);
  }
  std::lock_guard lock(mu_);
  return CreateLocked(ref, object);
}

absl::StatusOr<nlohmann::json> FakeKubeClient::CreateLocked(const ResourceRef& ref,
                                                            const nlohmann::json& object) {
  nlohmann::json stored = object;
  std::string ns = ref.namespace_.empty() ? MetaString(object, "namespace") : ref.namespace_;
  std::string name = MetaString(object, "name");
  if (name.empty()) {
    std::string prefix = MetaString(object, "generateName");
    if (prefix.empty())
      return StatusFromHttp(422, StatusJson(422, "Invalid", "metadata.name: Required value"));
    name = Cat(prefix, "x", ++uid_);
  }
  ResourceRef target = ref.Collection().In(ns).Named(name);
  if (objects_[TypeKey(target)].contains(ObjectKey(target))) {
    return StatusFromHttp(
        409, StatusJson(409, "AlreadyExists", Cat(ref.plural, " \"", name, "\" already exists")));
  }
  stored["metadata"]["name"] = name;
  if (!ns.empty()) stored["metadata"]["namespace"] = ns;
  stored["metadata"]["uid"] = Cat("uid-", ++uid_);
  stored["metadata"]["generation"] = 1;
  stored["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z";
  return StoreLocked(target, std::move(stored), WatchEventType::kAdded);
}

absl::StatusOr<nlohmann::json> FakeKubeClient::WriteLocked(const ResourceRef& ref,
                                                           const nlohmann::json& object) {
  auto& objects = objects_[TypeKey(ref)];
  auto it = objects.find(ObjectKey(ref));
  if (it == objects.end()) return NotFound(ref);
  const nlohmann::json& old = it->second;
  const std::string wanted_rv = MetaString(object, "resourceVersion");
  if (!wanted_rv.empty() && wanted_rv != MetaString(old, "resourceVersion")) {
    return StatusFromHttp(
        409,
        StatusJson(409, "Conflict",
                   Cat("Operation cannot be fulfilled on ", ref.plural, " \"", ref.name,
                       "\": the object has been modified; please apply your changes to the latest version "
                       "and try again")));
  }
  nlohmann::json stored = old;
  if (ref.subresource == "status") {
    stored["status"] = object.value("status", nlohmann::json::object());
  } else {
    nlohmann::json keep_status = old.value("status", nlohmann::json());
    stored = object;
    for (const char* field : {"uid", "creationTimestamp", "generation", "name", "namespace"}) {
      if (old["metadata"].contains(field)) stored["metadata"][field] = old["metadata"][field];
    }
    if (!keep_status.is_null()) {
      stored["status"] = keep_status;
    } else {
      stored.erase("status");
    }
    if (stored.value("spec", nlohmann::json()) != old.value("spec", nlohmann::json())) {
      stored["metadata"]["generation"] = old["metadata"].value("generation", 1) + 1;
    }
  }
  return StoreLocked(ref.Collection().In(ref.namespace_).Named(ref.name), std::move(stored),
                     WatchEventType::kModified);
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Update(const ResourceRef& ref, const nlohmann::json& object,
                                                      const WriteOptions& options) {
  std::lock_guard lock(mu_);
  if (absl::Status s = TakeFailure("update"); !s.ok()) return s;
  return WriteLocked(ref, object);
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Patch(const ResourceRef& ref, PatchType type,
                                                     const nlohmann::json& patch,
                                                     const WriteOptions& options) {
  std::lock_guard lock(mu_);
  if (absl::Status s = TakeFailure("patch"); !s.ok()) return s;
  return PatchLocked(ref, type, patch);
}

absl::StatusOr<nlohmann::json> FakeKubeClient::PatchLocked(const ResourceRef& ref, PatchType type,
                                                           const nlohmann::json& patch) {
  auto& objects = objects_[TypeKey(ref)];
  auto it = objects.find(ObjectKey(ref));
  if (it == objects.end()) return NotFound(ref);
  nlohmann::json merged = it->second;
  if (ref.subresource == "scale") {
    merged["spec"]["replicas"] = patch.value("spec", nlohmann::json::object()).value("replicas", 0);
    // As the apiserver: a resourceVersion in the patch is a precondition.
    if (patch.contains("metadata") && patch["metadata"].contains("resourceVersion")) {
      merged["metadata"]["resourceVersion"] = patch["metadata"]["resourceVersion"];
    }
    // And so is a uid (the Deployment replaced since it was read: 409).
    if (patch.contains("metadata") && patch["metadata"].contains("uid") &&
        patch["metadata"]["uid"] != it->second["metadata"].value("uid", "")) {
      return StatusFromHttp(409, StatusJson(409, "Conflict", "Precondition failed: UID in precondition"));
    }
    ResourceRef main = ref.Sub("");
    absl::StatusOr<nlohmann::json> written = WriteLocked(main, merged);
    if (!written.ok()) return written;
    return nlohmann::json{{"apiVersion", "autoscaling/v1"},
                          {"kind", "Scale"},
                          {"spec", {{"replicas", (*written)["spec"]["replicas"]}}}};
  }
  if (type == PatchType::kJson) {
    merged = merged.patch(patch);
  } else {
    merged.merge_patch(patch);
  }
  // A patch carrying a resourceVersion is optimistic too.
  if (!patch.contains("metadata") || !patch["metadata"].contains("resourceVersion")) {
    merged["metadata"]["resourceVersion"] = it->second["metadata"]["resourceVersion"];
  }
  if (ref.subresource == "status") return WriteLocked(ref, merged);
  // Patches of the main resource may change status on this fake only if the
  // caller means it; keep the real apiserver's rule: status is ignored.
  merged["status"] = it->second.value("status", nlohmann::json());
  if (merged["status"].is_null()) merged.erase("status");
  return WriteLocked(ref, merged);
}

namespace {

// Removes from `object` what `previous` (a manager's last applied
// configuration) had and `current` (its new one) has not, unless `others`
// (the other managers' configurations) still set it. Arrays are atomic.
void RemoveDropped(nlohmann::json& object, const nlohmann::json& previous, const nlohmann::json& current,
                   const std::vector<const nlohmann::json*>& others) {
  if (!previous.is_object() || !object.is_object()) return;
  for (auto it = previous.begin(); it != previous.end(); ++it) {
    if (!object.contains(it.key())) continue;
    std::vector<const nlohmann::json*> others_here;
    for (const nlohmann::json* other : others) {
      if (other->is_object() && other->contains(it.key())) others_here.push_back(&(*other)[it.key()]);
    }
    const bool kept = current.is_object() && current.contains(it.key());
    if (!kept && others_here.empty()) {
      object.erase(it.key());
    } else if (kept && it.value().is_object()) {
      RemoveDropped(object[it.key()], it.value(), current[it.key()], others_here);
    }
  }
}

// Objects merge recursively; anything else (arrays included) is replaced.
void MergeApplied(nlohmann::json& object, const nlohmann::json& config) {
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (it.value().is_object() && object.contains(it.key()) && object[it.key()].is_object()) {
      MergeApplied(object[it.key()], it.value());
    } else {
      object[it.key()] = it.value();
    }
  }
}

}  // namespace

absl::StatusOr<nlohmann::json> FakeKubeClient::Apply(const ResourceRef& ref, const nlohmann::json& object,
                                                     const ApplyOptions& options) {
  if (options.field_manager.empty()) {
    return StatusFromHttp(400,
                          StatusJson(400, "BadRequest", "PATCH requests with apply require fieldManager"));
  }
  std::lock_guard lock(mu_);
  if (absl::Status s = TakeFailure("apply"); !s.ok()) return s;
  const std::string applied_key = Cat(TypeKey(ref), " ", ObjectKey(ref));
  nlohmann::json config = object;
  config["metadata"].erase("resourceVersion");
  auto& objects = objects_[TypeKey(ref)];
  auto it = objects.find(ObjectKey(ref));
  if (it == objects.end()) {
    nlohmann::json fresh = config;
    fresh["metadata"]["name"] = ref.name;
    if (!ref.namespace_.empty()) fresh["metadata"]["namespace"] = ref.namespace_;
    auto created = CreateLocked(ref.Collection().In(ref.namespace_), fresh);
    if (created.ok()) applied_[applied_key] = {{options.field_manager, config}};
    return created;
  }
  // As the apiserver: a resourceVersion in the configuration is a precondition.
  const std::string wanted_rv = MetaString(object, "resourceVersion");
  if (!wanted_rv.empty() && wanted_rv != MetaString(it->second, "resourceVersion")) {
    return StatusFromHttp(409, StatusJson(409, "Conflict", "the object has been modified"));
  }
  auto& managers = applied_[applied_key];
  std::vector<const nlohmann::json*> others;
  for (const auto& [manager, applied] : managers) {
    if (manager != options.field_manager) others.push_back(&applied);
  }
  nlohmann::json merged = it->second;
  if (auto previous = managers.find(options.field_manager); previous != managers.end()) {
    RemoveDropped(merged, previous->second, config, others);
  }
  MergeApplied(merged, config);
  // Defaulting, for the one default that matters here: a Deployment whose
  // spec.replicas was removed gets 1.
  if (ref.plural == "deployments" && merged.contains("spec") && !merged["spec"].contains("replicas")) {
    merged["spec"]["replicas"] = 1;
  }
  managers[options.field_manager] = config;
  // As the apiserver: an apply that changes nothing writes nothing.
  if (merged == it->second) return it->second;
  merged["metadata"]["resourceVersion"] = it->second["metadata"]["resourceVersion"];
  merged["status"] = it->second.value("status", nlohmann::json());
  if (merged["status"].is_null()) merged.erase("status");
  return WriteLocked(ref, merged);
}

absl::StatusOr<nlohmann::json> FakeKubeClient::Delete(const ResourceRef& ref, const DeleteOptions& options) {
  std::lock_guard lock(mu_);
  if (absl::Status s = TakeFailure("delete"); !s.ok()) return s;
  auto& objects = objects_[TypeKey(ref)];
  auto it = objects.find(ObjectKey(ref));
  if (it == objects.end()) return NotFound(ref);
  if ((!options.precondition_uid.empty() && options.precondition_uid != MetaString(it->second, "uid")) ||
      (!options.precondition_resource_version.empty() &&
       options.precondition_resource_version != MetaString(it->second, "resourceVersion"))) {
    return StatusFromHttp(409, StatusJson(409, "Conflict", "Precondition failed"));
  }
  nlohmann::json object = it->second;
  applied_.erase(Cat(TypeKey(ref), " ", ObjectKey(ref)));
  return StoreLocked(ref, std::move(object), WatchEventType::kDeleted);
}

absl::Status FakeKubeClient::Watch(const ResourceRef& collection, const WatchOptions& options,
                                   const WatchHandler& handler) {
  std::unique_lock lock(mu_);
  if (absl::Status s = TakeFailure("watch"); !s.ok()) return s;
  int64_t from = options.resource_version.empty() ? rv_ : std::stoll(options.resource_version);
  if (from < compacted_rv_) {
    return StatusFromHttp(
        410, StatusJson(410, "Expired", Cat("too old resource version: ", from, " (", compacted_rv_, ")")));
  }
  const std::string type = TypeKey(collection);
  const int64_t generation = watch_generation_;
  ++open_watches_;
  cv_.notify_all();
  int64_t last = from;
  absl::Status result = absl::OkStatus();
  for (;;) {
    // Deliver what is newer than `last`, outside the lock.
    std::vector<WatchEvent> pending;
    for (const Event& e : history_) {
      if (e.rv <= last || e.collection != type) continue;
      last = e.rv;
      if (!collection.namespace_.empty() && e.ns != collection.namespace_) continue;
      if (!MatchesLabels(e.event.object, options.label_selector) ||
          !MatchesFields(e.event.object, options.field_selector)) {
        continue;
      }
      pending.push_back(e.event);
    }
    if (!history_.empty()) last = std::max(last, history_.back().rv);
    bool keep_going = true;
    if (!pending.empty()) {
      lock.unlock();
      for (const auto& event : pending) {
        if (!handler(event)) {
          keep_going = false;
          break;
        }
      }
      lock.lock();
    }
    if (!keep_going) break;
    if (options.cancel != nullptr && options.cancel->cancelled()) break;
    if (watch_generation_ != generation) break;
    cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
  --open_watches_;
  return result;
}

}  // namespace zs::kube::testing
