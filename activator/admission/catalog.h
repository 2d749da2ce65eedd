// Stage 1's source of truth: which Functions exist and how they are
// configured.
//
// FunctionCatalog is the interface the data path reads; InMemoryCatalog is
// the one implementation, fed by whoever knows the Functions: the static
// config, or the Function informer (Upsert on add/update, Remove on delete).
//
// Lifecycle of a Function's per-Function state elsewhere (metric series,
// load figures): it belongs to one incarnation (FunctionConfig::incarnation),
// and removal listeners hear when that incarnation ends: on Remove, and on an
// Upsert whose uid differs from the known one (deleted and re-created between
// two informer events). Listeners run on the updating thread after the
// catalog no longer answers with the old config.
//
// Thread-safety: all methods may be called from any thread. Lookups take a
// shared lock; updates replace an entry's shared_ptr, so readers keep the
// config they already hold.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "activator/admission/function_config.h"

namespace zs::activator {

class FunctionCatalog {
 public:
  virtual ~FunctionCatalog() = default;
  // The current config of ns/name, or null when no such Function is known.
  virtual std::shared_ptr<const FunctionConfig> Lookup(std::string_view ns, std::string_view name) const = 0;
};

class InMemoryCatalog final : public FunctionCatalog {
 public:
  using RemovedListener = std::function<void(const FunctionConfig& removed)>;

  std::shared_ptr<const FunctionConfig> Lookup(std::string_view ns, std::string_view name) const override;

  // Adds or replaces the Function named by config.key, stamping its
  // incarnation (kept across updates of the same object).
  void Upsert(FunctionConfig config);
  // Forgets a Function; returns whether it was known.
  bool Remove(const FunctionKey& key);
  // Called with the last config of every incarnation that ends. Register
  // before the catalog is fed.
  void OnRemoved(RemovedListener listener);
  // The longest timeoutSeconds of any known Function (0 with none): how long
  // a drain lets invocations in flight finish.
  std::chrono::milliseconds LongestTimeout() const;
  // Every known Function (order unspecified).
  std::vector<std::shared_ptr<const FunctionConfig>> List() const;
  size_t size() const;

 private:
  void NotifyRemoved(const FunctionConfig& removed);

  mutable std::shared_mutex mu_;
  // Keyed by "namespace/name".
  std::unordered_map<std::string, std::shared_ptr<const FunctionConfig>> functions_;
  uint64_t next_incarnation_ = 1;  // guarded by mu_
  std::mutex listeners_mu_;
  std::vector<RemovedListener> listeners_;
};

}  // namespace zs::activator
