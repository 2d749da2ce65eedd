// PlacementBoard: the leader's view of its activators, from which each one
// learns which activator serves every capped Function (maxConcurrency > 0)
// and when a new owner may start (proto/zeroscale.proto, Placement;
// docs/invocation.md, "Several activators").
//
// Members are the activators with an open StreamStats call that gave a relay
// address. Every change of that set starts a new generation; generations
// begin at the wall clock's milliseconds when the board is made, so they keep
// increasing across leader changes and an activator still on an old leader's
// generation is known to be behind.
//
// Safety: an activator serves a capped Function itself only when it owns it
// under the generation it applied, and relays it otherwise. A new owner must
// therefore wait while any other member has not applied the current
// generation (it may still own the Function under its old view: the board
// sends that view, or none when it does not know it) or still has the
// Function in flight or held (its last report). The board lists both in every
// Placement; the activator does the per-Function check (owner.h there).
//
// Settling: for `settle` after the first report it takes (again whenever
// every activator has left), the board answers
// no Placement, so that activators reconnecting after a failover are members
// before the first one is computed; each activator keeps the last it had.
//
// Thread-safety: all methods may be called from any thread (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "proto/zeroscale.pb.h"

namespace zs::autoscaler {

class PlacementBoard {
 public:
  struct Options {
    Duration settle = std::chrono::seconds(3);
    // Generations kept to describe lagging members' views.
    size_t history = 64;
  };
  PlacementBoard(Options options, const Clock& clock);

  // A report arrived on stream `stream` (any number unique per call). Returns
  // the Placement to acknowledge it with, or nullopt while settling.
  std::optional<zeroscale::v1alpha1::Placement> OnReport(uint64_t stream,
                                                         const zeroscale::v1alpha1::StatsReport& report);
  // The call `stream` ended: its activator leaves unless another stream of
  // its own is open.
  void OnStreamEnded(uint64_t stream);

  uint64_t generation() const;
  std::vector<std::string> members() const;

 private:
  struct Member {
    std::set<uint64_t> streams;
    std::string address;
    uint64_t applied = 0;
    // Capped Functions this member forwards itself (in flight or held).
    std::set<std::string> busy;
  };
  // With mu_ held: recomputes the member list; a change starts a generation.
  void RecomputeLocked();
  zeroscale::v1alpha1::Placement BuildLocked() const;

  const Options options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Member> activators_;  // by id, members or not
  std::map<uint64_t, std::string> stream_owner_;
  std::vector<std::string> ids_;        // members, sorted
  std::vector<std::string> addresses_;  // theirs, in the same order
  uint64_t generation_;
  std::map<uint64_t, std::vector<std::string>> history_;
  std::optional<MonotonicTime> first_report_;
};

}  // namespace zs::autoscaler
