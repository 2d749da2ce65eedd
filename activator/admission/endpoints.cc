#include "activator/admission/endpoints.h"

#include <charconv>
#include <unordered_set>

#include "common/strings.h"

namespace zs::activator {

std::string Endpoint::Address() const {
  if (ip.find(':') != std::string::npos) return Cat("[", ip, "]:", port);
  return Cat(ip, ":", port);
}

bool ParseEndpoint(std::string_view text, Endpoint* out) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return false;  // bare IPv6 needs brackets
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return false;
  }
  out->ip = std::string(host);
  out->port = static_cast<uint16_t>(value);
  return true;
}

EndpointSlot::EndpointSlot(Endpoint endpoint)
    : endpoint_(std::move(endpoint)), address_(endpoint_.Address()) {}

bool EndpointSlot::TryAcquire(int32_t max_concurrency) {
  if (max_concurrency <= 0) {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  int32_t current = in_flight_.load(std::memory_order_relaxed);
  while (current < max_concurrency) {
    if (in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void EndpointSlot::Release() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }

InMemoryEndpointStore::InMemoryEndpointStore() : empty_(std::make_shared<const EndpointSet>()) {}

std::shared_ptr<const EndpointSet> InMemoryEndpointStore::Ready(const FunctionKey& key) const {
  std::shared_lock lock(mu_);
  auto it = sets_.find(key);
  return it == sets_.end() ? empty_ : it->second;
}

void InMemoryEndpointStore::Subscribe(Listener listener) {
  std::lock_guard lock(listeners_mu_);
  listeners_.push_back(std::move(listener));
}

void InMemoryEndpointStore::Update(const FunctionKey& key, std::vector<Endpoint> ready) {
  std::shared_ptr<const EndpointSet> published;
  {
    std::unique_lock lock(mu_);
    std::unordered_map<std::string, std::shared_ptr<EndpointSlot>> previous;
    if (auto it = sets_.find(key); it != sets_.end()) {
      for (const auto& slot : it->second->endpoints) previous.emplace(slot->address(), slot);
    }
    auto set = std::make_shared<EndpointSet>();
    set->version = next_version_++;
    std::unordered_set<std::string> seen;
    for (Endpoint& endpoint : ready) {
      std::string address = endpoint.Address();
      if (!seen.insert(address).second) continue;
      auto reuse = previous.find(address);
      // Same address, same pod: keep the slot so its in-flight count carries
      // over. A new pod behind a recycled IP starts from zero.
      if (reuse != previous.end() && reuse->second->endpoint() == endpoint) {
        set->endpoints.push_back(reuse->second);
      } else {
        set->endpoints.push_back(std::make_shared<EndpointSlot>(std::move(endpoint)));
      }
    }
    published = std::move(set);
    sets_[key] = published;
  }
  Notify(key, *published);
}

void InMemoryEndpointStore::Remove(const FunctionKey& key) {
  auto set = std::make_shared<EndpointSet>();
  {
    std::unique_lock lock(mu_);
    set->version = next_version_++;
    sets_.erase(key);
  }
  Notify(key, *set);
}

void InMemoryEndpointStore::Notify(const FunctionKey& key, const EndpointSet& set) {
  std::vector<Listener> listeners;
  {
    std::lock_guard lock(listeners_mu_);
    listeners = listeners_;
  }
  for (const auto& listener : listeners) listener(key, set);
}

}  // namespace zs::activator
