// Helpers shared by the kube unit tests.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace zs::kube {

// Polls `ready` until it holds or a real-time deadline passes; tests use it
// instead of sleeping "long enough".
template <typename Pred>
bool Eventually(Pred ready, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ready();
}

inline nlohmann::json ConfigMap(const std::string& ns, const std::string& name,
                                const std::string& value = "v") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"data", {{"key", value}}}};
}

// Thread-safe log of handler calls: "add ns/name", "update ns/name", "delete ns/name".
class EventLog {
 public:
  void Record(const std::string& what) {
    std::lock_guard lock(mu_);
    entries_.push_back(what);
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }
  bool Contains(const std::string& what) const {
    std::lock_guard lock(mu_);
    for (const auto& e : entries_) {
      if (e == what) return true;
    }
    return false;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> entries_;
};

}  // namespace zs::kube
