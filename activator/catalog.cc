#include "activator/catalog.h"

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
  auto published = std::make_shared<const FunctionConfig>(std::move(config));
  std::unique_lock lock(mu_);
  functions_[std::move(key)] = std::move(published);
}

bool InMemoryCatalog::Remove(const FunctionKey& key) {
  std::unique_lock lock(mu_);
  return functions_.erase(KeyString(key.ns, key.name)) > 0;
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

}  // namespace zs::activator
