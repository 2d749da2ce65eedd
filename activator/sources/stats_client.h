// The activator's side of the Autoscaler gRPC service (proto/zeroscale.proto):
// streams a StatsReport every interval over one long-lived StreamStats call,
// and implements Waker with the Wake RPC.
//
// Every interval the LoadTracker's window is closed whether or not the
// controller is reachable, so windows keep their nominal length; a report
// that cannot be sent is dropped (the next one carries current figures). A
// broken stream, or an ack saying the peer is not the leader, tears the
// stream down and reconnects with exponential backoff (initial_backoff
// doubling to max_backoff), on the injected clock.
//
// Finding the leader: with Options::resolve set (the activator reads the
// controller's leader Lease), the address is looked up again before every
// reconnect, and after a Wake that failed or reached a non-leader. A new
// address replaces the channel at once and skips the backoff: after a
// failover the first report goes to the new leader as soon as its Lease
// names it. Without a resolver the address is fixed (--controller-address).
//
// Lifecycle: Start() spawns the reporting thread; Stop() ends it (within one
// interval) and cancels the stream. Wake calls are asynchronous (gRPC's
// callback API), bounded by wake_timeout, and may be made before Start.
// Channels belong to this object alone: a stub replaced on failover is kept
// until destruction, and the destructor waits for Wake calls still in flight
// (at most wake_timeout), so no gRPC callback thread ever drops the last
// reference to a channel (gRPC aborts when a channel dies on its own callback
// thread while the library shuts down).
//
// Placement: each report names the relay address and the placement
// generation applied; a placement on an ack is range-checked and applied to
// Options::placement (a refused one is logged and the last one kept).
//
// Thread-safety: Wake from any thread; Start/Stop from the owner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <absl/status/statusor.h>
#include <grpcpp/grpcpp.h>

#include "activator/admission/placement.h"
#include "activator/admission/waker.h"
#include "activator/metering/load_tracker.h"
#include "common/clock.h"
#include "proto/zeroscale.grpc.pb.h"

namespace zs::activator {

class StatsClient final : public Waker {
 public:
  struct Options {
    std::string controller_address;  // host:port; may start empty with a resolver
    // Looks the leader's host:port up (e.g. from its Lease); called on the
    // reporting thread only, so it may block for an apiserver round trip.
    std::function<absl::StatusOr<std::string>()> resolve;
    std::string activator_id;
    // host:port where other activators reach this proxy (relayed requests
    // for capped Functions this one owns); "" takes no part in placement.
    std::string relay_address;
    // Where placements from the acks are applied; may be null.
    Placement* placement = nullptr;
    // Called on the ack thread after a placement was applied (metrics).
    std::function<void(const Placement::View&)> on_placement;
    // The bearer token sent as `authorization` metadata on every call (the
    // controller checks it with a TokenReview); called per call, so a rotated
    // token file is picked up. Null or "": no metadata.
    std::function<std::string()> bearer_token;
    Duration interval = std::chrono::seconds(1);
    Duration wake_timeout = std::chrono::seconds(5);
    Duration initial_backoff = std::chrono::milliseconds(200);
    Duration max_backoff = std::chrono::seconds(10);
  };

  StatsClient(Options options, LoadTracker& tracker, Clock& clock);
  ~StatsClient() override;

  void Start();
  void Stop();

  void Wake(const FunctionKey& key, Done done) override;

  // Reports written on a stream so far, and streams opened (tests, metrics).
  uint64_t reports_sent() const { return reports_sent_.load(); }
  uint64_t streams_opened() const { return streams_opened_.load(); }
  uint64_t not_leader_acks() const { return not_leader_acks_.load(); }
  // Report intervals completed by the reporting thread.
  uint64_t rounds() const { return rounds_.load(); }
  // The address reports and wake-ups go to now ("" before one is known).
  std::string controller_address() const;

 private:
  class Stream;
  void Run();
  // One interval: close the load window, (re)connect when due, send.
  void RunRound(std::unique_ptr<Stream>& stream, Duration& backoff, MonotonicTime& next_connect);
  // Asks the resolver; true when the address changed (the channel is new).
  bool Resolve();
  void UseAddress(const std::string& address);
  std::shared_ptr<zeroscale::v1alpha1::Autoscaler::Stub> stub() const;
  void Authorize(grpc::ClientContext& context) const;

  const Options options_;
  LoadTracker& tracker_;
  Clock& clock_;
  mutable std::mutex mu_;  // guards address_ and stub_ (swapped on failover)
  std::string address_;
  std::shared_ptr<zeroscale::v1alpha1::Autoscaler::Stub> stub_;
  // Stubs replaced on failover: Wake calls on them may still be running.
  std::vector<std::shared_ptr<zeroscale::v1alpha1::Autoscaler::Stub>> retired_stubs_;
  // Wake calls whose callback has not finished; shared with the callbacks.
  struct InFlight {
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
  };
  std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();
  // Set by a failed or misdirected Wake (whose callback may outlive this
  // object, hence shared): resolve again on the next round.
  std::shared_ptr<std::atomic<bool>> resolve_needed_ = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::atomic<uint64_t> reports_sent_{0};
  std::atomic<uint64_t> streams_opened_{0};
  std::atomic<uint64_t> not_leader_acks_{0};
  std::atomic<uint64_t> rounds_{0};
};

}  // namespace zs::activator
