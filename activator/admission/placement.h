// Which activator serves a capped Function (maxConcurrency > 0) when several
// run: the controller sends each activator the members of the current
// generation on its stats acks (proto/zeroscale.proto, Placement), and every
// activator computes the owner of a Function the same way (rendezvous hash of
// "namespace/name" over the member ids, common/rendezvous.h). The owner
// forwards the Function's requests to its replicas, so maxConcurrency,
// buffer.maxRequests and cold-start counting are held in one place; the other
// activators relay its requests to the owner's proxy (docs/invocation.md,
// "Several activators").
//
// A new owner holds a Function's requests while another member may still
// forward it itself: a member that has not applied this generation and owned
// the Function under the view it had (or whose view the controller does not
// know), or a member still busy with it.
//
// Uncapped Functions are served by whichever activator a request reaches;
// their buffer.maxRequests is split between the members (BufferShare).
//
// With no placement (no controller yet, a standalone activator) or one
// member, everything is served here, as with a single activator.
//
// Thread-safety: Apply from one thread, the rest from any (a snapshot swapped
// under a short lock).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "activator/admission/function_config.h"

namespace zs::activator {

class Placement {
 public:
  struct Lagging {
    std::string id;
    // Members of the generation it applied; empty: unknown (may serve anything).
    std::vector<std::string> activators;
  };
  struct View {
    uint64_t generation = 0;
    std::vector<std::string> ids;        // sorted
    std::vector<std::string> addresses;  // relay host:port, same order
    std::vector<Lagging> lagging;
    std::set<std::string> busy;  // "namespace/name"
  };

  enum class Decision { kServe, kHold, kRelay };
  struct Route {
    Decision decision = Decision::kServe;
    std::string owner;    // kRelay: its id
    std::string address;  // kRelay: its relay host:port
  };

  explicit Placement(std::string self_id);

  void Apply(View view);
  // 0 until a placement was applied.
  uint64_t generation() const;

  // For a capped Function.
  Route RouteCapped(const FunctionKey& key) const;
  // How many of an uncapped Function's `max_requests` this activator may
  // hold: an even split over the members (remainders rotate by Function), at
  // least 1 so that every activator can hold a request for a cold start.
  int32_t BufferShare(const FunctionKey& key, int32_t max_requests) const;
  // Whether `ip` is a member's relay host (relayed requests are trusted
  // only from there).
  bool IsPeerHost(std::string_view ip) const;

  const std::string& self() const { return self_; }

 private:
  std::shared_ptr<const View> Snapshot() const;

  const std::string self_;
  mutable std::mutex mu_;
  std::shared_ptr<const View> view_;
};

}  // namespace zs::activator
