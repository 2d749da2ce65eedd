// StartingProber: finds the moment a starting replica can serve, instead of
// waiting for Kubernetes to say so.
//
// A new pod's address appears in its EndpointSlice (conditions.ready=false)
// as soon as it runs; it turns ready only after the kubelet's next readiness
// probe succeeds, and probes run once per periodSeconds (>= 1 s). When the
// first probe comes a moment before the function listens, a cold start waits
// a whole extra period. The controller gives every Function a TCP readiness
// probe on its port, so a TCP connect that succeeds is the same test: this
// prober makes it every `interval` (Knative's activator probes new pods in the
// same spirit) and reports each address the first time it accepts. A connect
// to a starting replica that does not listen yet is refused at once, so a
// short interval costs little; the pause after a round is at least four times
// the CPU the round took, which bounds the probing thread's share of a core
// when many replicas start at once (a connect that times out only waits, and
// does not lengthen it). A newly watched address ends a pause at once.
//
// Watch(key, addresses) replaces the set probed for a Function (empty: stop);
// an address is probed until it accepts once (reported through on_ready,
// then dropped), leaves the set, or `give_up` has passed since it was first
// watched (Kubernetes' own probe then decides). Connects are non-blocking and
// bounded by `connect_timeout`.
//
// The pause between rounds is real time (a condition variable, so Stop() is
// prompt): probing is network I/O; `give_up` is measured on the injected clock.
//
// Lifecycle: Start() spawns the probing thread; Stop() (also in the
// destructor) joins it. Thread-safety: Watch from any thread; on_ready runs
// on the probing thread and may call Watch.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "activator/admission/endpoints.h"
#include "activator/admission/function_config.h"
#include "common/clock.h"

namespace zs::activator {

class StartingProber {
 public:
  struct Options {
    Duration interval = std::chrono::milliseconds(5);
    Duration connect_timeout = std::chrono::milliseconds(20);
    Duration give_up = std::chrono::seconds(60);
  };
  using OnReady = std::function<void(const FunctionKey& key, const Endpoint& endpoint)>;

  StartingProber(Options options, Clock& clock, OnReady on_ready);
  ~StartingProber();
  StartingProber(const StartingProber&) = delete;
  StartingProber& operator=(const StartingProber&) = delete;

  void Start();
  void Stop();
  void Watch(const FunctionKey& key, const std::vector<Endpoint>& addresses);

  // Addresses being probed now, and rounds of probes made (tests).
  size_t probing() const;
  uint64_t rounds() const { return rounds_.load(); }

 private:
  struct Target {
    Endpoint endpoint;
    MonotonicTime since;
  };
  void Run();

  const Options options_;
  Clock& clock_;
  const OnReady on_ready_;
  mutable std::mutex mu_;
  std::condition_variable work_;
  // Function -> (address -> target)
  std::unordered_map<FunctionKey, std::map<std::string, Target>, FunctionKeyHash> targets_;
  bool stopping_ = false;
  bool added_ = false;  // Watch added an address since the round began
  std::atomic<uint64_t> rounds_{0};
  std::thread thread_;
};

// One non-blocking TCP connect to `endpoint`, bounded by `timeout` (real
// time); true when it was accepted.
bool TcpAccepts(const Endpoint& endpoint, Duration timeout);

}  // namespace zs::activator
