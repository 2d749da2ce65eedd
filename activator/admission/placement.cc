#include "activator/admission/placement.h"

#include <algorithm>

#include "common/rendezvous.h"

namespace zs::activator {

namespace {

// The host part of "host:port" / "[v6]:port".
std::string_view HostOf(std::string_view address) {
  const size_t colon = address.rfind(':');
  std::string_view host = colon == std::string_view::npos ? address : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

Placement::Placement(std::string self_id) : self_(std::move(self_id)) {}

void Placement::Apply(View view) {
  auto next = std::make_shared<const View>(std::move(view));
  std::lock_guard lock(mu_);
  view_ = std::move(next);
}

std::shared_ptr<const Placement::View> Placement::Snapshot() const {
  std::lock_guard lock(mu_);
  return view_;
}

uint64_t Placement::generation() const {
  auto view = Snapshot();
  return view ? view->generation : 0;
}

Placement::Route Placement::RouteCapped(const FunctionKey& key) const {
  Route route;
  auto view = Snapshot();
  if (!view || view->ids.empty()) return route;
  const std::string function = key.String();
  const size_t owner = *RendezvousOwner(function, view->ids);
  if (view->ids[owner] != self_) {
    route.decision = Decision::kRelay;
    route.owner = view->ids[owner];
    route.address = view->addresses[owner];
    return route;
  }
  bool hold = view->busy.count(function) > 0;
  for (const Lagging& lagging : view->lagging) {
    if (hold) break;
    if (lagging.id == self_) continue;
    if (lagging.activators.empty()) {
      hold = true;  // its view is unknown: it may own this Function
    } else {
      const auto old_owner = RendezvousOwner(function, lagging.activators);
      hold = old_owner && lagging.activators[*old_owner] == lagging.id;
    }
  }
  if (hold) route.decision = Decision::kHold;
  return route;
}

int32_t Placement::BufferShare(const FunctionKey& key, int32_t max_requests) const {
  auto view = Snapshot();
  if (!view || view->ids.size() <= 1) return max_requests;
  const auto self = std::find(view->ids.begin(), view->ids.end(), self_);
  if (self == view->ids.end()) return max_requests;
  const auto n = static_cast<int32_t>(view->ids.size());
  const auto index = static_cast<int32_t>(self - view->ids.begin());
  const auto rotate = static_cast<int32_t>(RendezvousScore(key.String(), "") % static_cast<uint64_t>(n));
  const int32_t rank = (index + rotate) % n;
  const int32_t share = max_requests / n + (rank < max_requests % n ? 1 : 0);
  return std::max(share, 1);
}

bool Placement::IsPeerHost(std::string_view ip) const {
  auto view = Snapshot();
  if (!view) return false;
  return std::any_of(view->addresses.begin(), view->addresses.end(),
                     [ip](const std::string& address) { return HostOf(address) == ip; });
}

}  // namespace zs::activator
