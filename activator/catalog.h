// Stage 1's source of truth: which Functions exist and how they are
// configured.
//
// FunctionCatalog is the interface the data path reads; InMemoryCatalog is
// the one implementation, fed by whoever knows the Functions: the static
// config today, a Function informer tomorrow (Upsert on add/update, Remove on
// delete).
//
// Thread-safety: all methods may be called from any thread. Lookups take a
// shared lock; updates replace an entry's shared_ptr, so readers keep the
// config they already hold.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "activator/function_config.h"

namespace zs::activator {

class FunctionCatalog {
 public:
  virtual ~FunctionCatalog() = default;
  // The current config of ns/name, or null when no such Function is known.
  virtual std::shared_ptr<const FunctionConfig> Lookup(std::string_view ns, std::string_view name) const = 0;
};

class InMemoryCatalog final : public FunctionCatalog {
 public:
  std::shared_ptr<const FunctionConfig> Lookup(std::string_view ns, std::string_view name) const override;

  // Adds or replaces the Function named by config.key.
  void Upsert(FunctionConfig config);
  // Forgets a Function; returns whether it was known.
  bool Remove(const FunctionKey& key);
  // Every known Function (order unspecified).
  std::vector<std::shared_ptr<const FunctionConfig>> List() const;
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  // Keyed by "namespace/name".
  std::unordered_map<std::string, std::shared_ptr<const FunctionConfig>> functions_;
};

}  // namespace zs::activator
