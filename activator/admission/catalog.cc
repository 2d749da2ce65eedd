#include "activator/admission/catalog.h"

#include <algorithm>
#include <mutex>

namespace zs::activator {
namespace {

std::string KeyString(std::string_view ns, std::string_view name) {
  std::string key;
  key.reserve(ns.size() + name.size() + 1);
  key.append(ns).append("/").append(name);
  return key;
}

}  // namespace

std::shared_ptr<const FunctionConfig> InMemoryCatalog::Lookup(std::string_view ns,
                                                              std::string_view name) const {
  const std::string key = KeyString(ns, name);
  std::shared_lock lock(mu_);
  auto it = functions_.find(key);
  return it == functions_.end() ? nullptr : it->second;
}

void InMemoryCatalog::Upsert(FunctionConfig config) {
  std::string key = KeyString(config.key.ns, config.key.name);
  std::shared_ptr<const FunctionConfig> replaced;
  {
    std::unique_lock lock(mu_);
    auto& slot = functions_[std::move(key)];
    const bool same_object = slot && (slot->uid.empty() || config.uid.empty() || slot->uid == config.uid);
    if (same_object) {
      config.incarnation = slot->incarnation;
    } else {
      config.incarnation = next_incarnation_++;
      replaced = std::move(slot);
    }
    slot = std::make_shared<const FunctionConfig>(std::move(config));
  }
  if (replaced) NotifyRemoved(*replaced);
}

bool InMemoryCatalog::Remove(const FunctionKey& key) {
  std::shared_ptr<const FunctionConfig> removed;
  {
    std::unique_lock lock(mu_);
    auto it = functions_.find(KeyString(key.ns, key.name));
    if (it == functions_.end()) return false;
    removed = std::move(it->second);
    functions_.erase(it);
  }
  NotifyRemoved(*removed);
  return true;
}

void InMemoryCatalog::OnRemoved(RemovedListener listener) {
  std::lock_guard lock(listeners_mu_);
  listeners_.push_back(std::move(listener));
}

void InMemoryCatalog::NotifyRemoved(const FunctionConfig& removed) {
  std::vector<RemovedListener> listeners;
  {
    std::lock_guard lock(listeners_mu_);
    listeners = listeners_;
  }
  for (const auto& listener : listeners) listener(removed);
}

std::vector<std::shared_ptr<const FunctionConfig>> InMemoryCatalog::List() const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<const FunctionConfig>> out;
  out.reserve(functions_.size());
  for (const auto& [key, config] : functions_) out.push_back(config);
  return out;
}

size_t InMemoryCatalog::size() const {
  std::shared_lock lock(mu_);
  return functions_.size();
}

std::chrono::milliseconds InMemoryCatalog::LongestTimeout() const {
  std::shared_lock lock(mu_);
  std::chrono::milliseconds longest{0};
  for (const auto& [key, config] : functions_) longest = std::max(longest, config->timeout);
  return longest;
}

}  // namespace zs::activator
