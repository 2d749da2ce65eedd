// BrokerManager: runs a Consumer (consumer.h) for every nats and redis
// trigger of the Functions this replica sees, and writes what they did into
// status.triggers.
//
// Every replica of the trigger component consumes (the broker's durable
// consumer / consumer group shares the messages among them); no Lease is
// involved. Status: each replica adds the counts of its consumers since its
// last write to the Function's entries (fired, succeeded, failed,
// deadLettered) and sets the broker's view (pending, connected, reason,
// message), in a merge patch conditional on the Function's resourceVersion,
// so replicas and the schedule leader never overwrite each other's counts.
//
// Secrets named by a trigger (credentialsSecretRef, passwordSecretRef) are
// read with a GET when its consumer starts and every `secret_refresh`; a
// changed value restarts the consumer. No other Secret is read.
//
// Lifecycle: construct; call Sync() with the informer's Functions and
// WriteStatus() periodically from one thread (Run() does both); Stop() stops
// every consumer, each draining up to its settings' `drain`.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/api/function.h"
#include "common/clock.h"
#include "common/kube/client.h"
#include "triggers/brokers/consumer.h"
#include "triggers/brokers/source.h"
#include "triggers/invoker.h"
#include "triggers/metrics.h"

namespace zs::triggers {

// What a MessageSource is made from.
struct BrokerSourceSpec {
  TriggerId id;
  api::TriggerSpec trigger;   // nats or redis set
  std::string consumer_name;  // durable consumer / consumer group
  std::string identity;       // this replica (the Redis consumer name)
  std::string secret;         // the value of the trigger's Secret key; empty if none
  std::chrono::milliseconds ack_wait{0};
};
using SourceFactory = std::function<std::unique_ptr<MessageSource>(const BrokerSourceSpec&)>;

class BrokerManager {
 public:
  struct Options {
    std::string activator_url;
    std::string identity;
    std::string field_manager = "zeroscale-triggers";
    std::chrono::milliseconds status_every{5000};
    std::chrono::milliseconds sync_every{1000};
    std::chrono::milliseconds secret_refresh{60000};
    // Beyond the invocation timeout, before the broker hands an
    // unacknowledged message to another consumer.
    std::chrono::milliseconds ack_wait_margin{30000};
    int max_write_attempts = 5;
    // Consumer settings other than the per-trigger ones (tests shorten them).
    ConsumerSettings consumer_defaults;
  };
  using ListFunctions = std::function<std::vector<nlohmann::json>()>;

  BrokerManager(kube::KubeClient& client, Clock& clock, Invoker& invoker, TriggerMetrics& metrics,
                SourceFactory factory, ListFunctions list_functions, Options options);
  ~BrokerManager();
  BrokerManager(const BrokerManager&) = delete;
  BrokerManager& operator=(const BrokerManager&) = delete;

  // Syncs and writes status until `stop`, then stops every consumer.
  void Run(const std::stop_token& stop);
  // Starts, restarts and stops consumers to match the Functions.
  void Sync();
  // Writes each Function's broker entries that changed. Returns whether
  // every write succeeded.
  bool WriteStatus();
  // Stops every consumer (each drains).
  void Stop();

  // The running consumers' keys, "<namespace>/<function>/<trigger>" (tests).
  std::vector<std::string> Running() const;

 private:
  struct Entry;
  using Key = std::pair<std::pair<std::string, std::string>, std::string>;  // ((ns, fn), trigger)

  void StartConsumer(const api::Function& fn, const api::TriggerSpec& trigger, Entry& entry);
  std::optional<std::string> ReadSecret(const std::string& ns, const std::optional<api::SecretKeyRef>& ref,
                                        std::string* error);
  bool WriteFunction(const std::string& ns, const std::string& name);

  kube::KubeClient& client_;
  Clock& clock_;
  Invoker& invoker_;
  TriggerMetrics& metrics_;
  SourceFactory factory_;
  ListFunctions list_functions_;
  Options options_;

  // Sync/WriteStatus's thread only.
  std::map<Key, std::unique_ptr<Entry>> entries_;
  std::vector<std::unique_ptr<Entry>> stopping_;
};

}  // namespace zs::triggers
