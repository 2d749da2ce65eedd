#include "controller/autoscaler/placement_board.h"

#include <algorithm>

#include "common/log.h"
#include "common/rendezvous.h"
#include "common/strings.h"

namespace zs::autoscaler {

namespace pb = zeroscale::v1alpha1;

PlacementBoard::PlacementBoard(Options options, const Clock& clock)
    : options_(options),
      clock_(clock),
      generation_(static_cast<uint64_t>(std::max<int64_t>(
          1, std::chrono::duration_cast<std::chrono::milliseconds>(clock.WallNow().time_since_epoch())
                 .count()))) {
  history_[generation_] = {};
}

std::optional<pb::Placement> PlacementBoard::OnReport(uint64_t stream, const pb::StatsReport& report) {
  std::lock_guard lock(mu_);
  if (!first_report_) first_report_ = clock_.Now();
  const std::string& id = report.activator_id();
  if (auto it = stream_owner_.find(stream); it != stream_owner_.end() && it->second != id) {
    activators_[it->second].streams.erase(stream);  // a stream does not change hands; be safe anyway
  }
  stream_owner_[stream] = id;
  Member& member = activators_[id];
  member.streams.insert(stream);
  member.address = report.relay_address();
  member.applied = report.placement_generation();
  member.busy.clear();
  for (const pb::FunctionLoad& load : report.functions()) {
    if (load.capped() && load.in_flight() + load.queued() > 0)
      member.busy.insert(Cat(load.namespace_(), "/", load.name()));
  }
  RecomputeLocked();
  if (clock_.Now() - *first_report_ < options_.settle) return std::nullopt;
  return BuildLocked();
}

void PlacementBoard::OnStreamEnded(uint64_t stream) {
  std::lock_guard lock(mu_);
  auto it = stream_owner_.find(stream);
  if (it == stream_owner_.end()) return;
  auto member = activators_.find(it->second);
  stream_owner_.erase(it);
  if (member != activators_.end()) {
    member->second.streams.erase(stream);
    if (member->second.streams.empty()) activators_.erase(member);
  }
  // Nobody left (leadership lost, or every activator gone): the next leader
  // term settles again.
  if (activators_.empty()) first_report_.reset();
  RecomputeLocked();
}

void PlacementBoard::RecomputeLocked() {
  std::vector<std::string> ids;
  std::vector<std::string> addresses;
  for (const auto& [id, member] : activators_) {
    if (member.streams.empty() || member.address.empty()) continue;
    ids.push_back(id);
    addresses.push_back(member.address);
  }
  // An address change is a change too: relays must go to the new one.
  if (ids == ids_ && addresses == addresses_) return;
  addresses_ = std::move(addresses);
  ids_ = std::move(ids);
  ++generation_;
  history_[generation_] = ids_;
  // Keep what lagging members may still need, bounded.
  uint64_t oldest = generation_;
  for (const auto& [id, member] : activators_) oldest = std::min(oldest, member.applied);
  while (history_.size() > 1 && (history_.begin()->first < oldest || history_.size() > options_.history)) {
    history_.erase(history_.begin());
  }
  log::Info("activator placement changed", {{"generation", static_cast<int64_t>(generation_)},
                                            {"activators", static_cast<int64_t>(ids_.size())}});
}

pb::Placement PlacementBoard::BuildLocked() const {
  pb::Placement placement;
  placement.set_generation(generation_);
  std::set<std::string> busy;
  for (const std::string& id : ids_) {
    const Member& member = activators_.at(id);
    pb::ActivatorPeer* peer = placement.add_activators();
    peer->set_id(id);
    peer->set_relay_address(member.address);
    if (member.applied != generation_) {
      pb::Placement::Lagging* lagging = placement.add_lagging();
      lagging->set_id(id);
      lagging->set_generation(member.applied);
      if (auto view = history_.find(member.applied); view != history_.end()) {
        for (const std::string& other : view->second) lagging->add_activators(other);
      }
    }
    for (const std::string& function : member.busy) {
      const auto owner = RendezvousOwner(function, ids_);
      if (!owner || ids_[*owner] != id) busy.insert(function);
    }
  }
  for (const std::string& function : busy) placement.add_busy(function);
  return placement;
}

uint64_t PlacementBoard::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

std::vector<std::string> PlacementBoard::members() const {
  std::lock_guard lock(mu_);
  return ids_;
}

}  // namespace zs::autoscaler
