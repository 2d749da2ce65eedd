// Consumer: the delivery loop of one broker trigger in one process. It takes
// messages from a MessageSource (source.h), sends each to the Function
// through the activator (Invoker), and settles it by the answer:
//
//   2xx                          -> Ack
//   otherwise, attempts left     -> Retry after backoff (doubling, capped)
//   otherwise, last attempt      -> DeadLetter (then acked by the source)
//
// At most delivery.maxInFlight invocations are in flight. A broker error
// (down, refused, auth) marks the consumer disconnected with the reason and
// reconnects with backoff; messages it held are redelivered by the broker.
// Nothing is acknowledged before its answer: a process killed at any point
// leaves every unsettled message to be delivered again (at least once).
//
// Lifecycle: construct, Run() on a thread of its own until its stop_token
// fires; Run() then waits up to `drain` for invocations in flight, settles
// them, cancels the rest (left unacknowledged: redelivered) and returns.
// Thread-safety: State() from any thread; the rest belongs to Run's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "common/api/function.h"
#include "common/clock.h"
#include "triggers/brokers/source.h"
#include "triggers/invoker.h"
#include "triggers/metrics.h"

namespace zs::triggers {

struct ConsumerSettings {
  TriggerId id;
  // <activator>/fn/<namespace>/<function><request.path>
  std::string url;
  std::string method = "POST";
  // The trigger's request.headers, sent with every message.
  std::vector<std::pair<std::string, std::string>> headers;
  // "X-Zeroscale-Subject" (nats) or "X-Zeroscale-Stream" (redis): carries
  // Message::subject.
  std::string subject_header = "X-Zeroscale-Subject";
  api::DeliverySpec delivery;
  std::chrono::milliseconds invocation_timeout{35000};
  // Longest Fetch() wait with nothing in flight; with invocations in flight
  // the loop polls every `settle_every` to acknowledge promptly.
  std::chrono::milliseconds fetch_wait{1000};
  std::chrono::milliseconds settle_every{50};
  // Reconnect backoff after a broker error: doubles up to the cap.
  std::chrono::milliseconds reconnect_initial{500};
  std::chrono::milliseconds reconnect_max{30000};
  // How often the backlog is read from the broker.
  std::chrono::milliseconds lag_every{2000};
  // On stop, how long invocations in flight may still finish.
  std::chrono::milliseconds drain{30000};
};

// What the consumer has done since it started, and its broker's state.
struct ConsumerState {
  bool connected = false;
  // When not connected: BrokerUnavailable, or DeadLetterFailed (the broker
  // refused the dead-letter copy, e.g. no JetStream stream captures its
  // subject: the message stays unacknowledged and comes back).
  std::string reason;
  std::string message;  // the broker error
  std::optional<int64_t> lag;
  int64_t fired = 0;          // invocations sent (attempts)
  int64_t succeeded = 0;      // answered 2xx and acknowledged
  int64_t failed = 0;         // attempts answered otherwise, or not at all
  int64_t dead_lettered = 0;  // given up and copied to the dead-letter target
  std::optional<SystemTime> last_fire;
  std::optional<SystemTime> last_success;
};

class Consumer {
 public:
  Consumer(std::unique_ptr<MessageSource> source, Invoker& invoker, Clock& clock, TriggerMetrics& metrics,
           ConsumerSettings settings);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  void Run(const std::stop_token& stop);
  ConsumerState State() const;
  const ConsumerSettings& settings() const { return settings_; }

  // The wait before attempt `attempt + 1` after `attempt` failed.
  static std::chrono::milliseconds Backoff(const api::DeliverySpec& delivery, int64_t attempt);
  // The request for one message (headers, body, timeout).
  static Invocation BuildInvocation(const ConsumerSettings& settings, const Message& message);

 private:
  struct Flight {
    Message message;
    std::shared_ptr<InvocationHandle> handle;
  };
  struct Done {
    uint64_t key;
    InvocationResult result;
  };

  bool Connect(const std::stop_token& stop);
  void Disconnected(const absl::Status& status, const char* reason = "BrokerUnavailable");
  void Settle();
  void SettleOne(const Flight& flight, const InvocationResult& result);
  void Start(Message message);
  void RefreshLag(bool force);
  void Drain();
  // Waits up to `timeout` for a completion or stop.
  void WaitForCompletion(const std::stop_token& stop, std::chrono::milliseconds timeout);

  std::unique_ptr<MessageSource> source_;
  Invoker& invoker_;
  Clock& clock_;
  TriggerMetrics& metrics_;
  const ConsumerSettings settings_;

  // Run's thread only.
  bool connected_ = false;
  // The last dead-letter copy the broker refused; cleared by one it took.
  // Reported as DeadLetterFailed while set, connected or not.
  std::string dead_letter_error_;
  std::chrono::milliseconds reconnect_delay_;
  MonotonicTime next_lag_{};
  uint64_t next_key_ = 0;
  std::vector<std::pair<uint64_t, Flight>> flights_;

  mutable std::mutex mu_;
  std::condition_variable_any completed_cv_;
  std::deque<Done> completed_;  // under mu_
  ConsumerState state_;         // under mu_
};

}  // namespace zs::triggers
