// MessageSource: one broker consumer (a NATS JetStream durable pull consumer,
// a Redis Streams consumer group) as the delivery loop (consumer.h) sees it.
// Each broker's adapter maps its own notions onto these few verbs; the loop
// decides what to send, when to retry and when to give up.
//
// At-least-once is the contract every adapter keeps:
// - a message handed out by Fetch() stays the broker's until Ack() or
//   DeadLetter() returns OK; a process that dies holding it leaves it to be
//   delivered again (to any consumer of the group) once `ack_wait` passes;
// - `attempt` is counted by the broker (JetStream's num_delivered, the
//   Redis pending entry's delivery count), so it survives restarts: a message
//   redelivered after a crash carries the next attempt number;
// - Retry() hands the message back for redelivery after `delay`, counting an
//   attempt; it never drops it.
//
// Thread-safety: none. One delivery loop owns a source and calls it from one
// thread. Calls may block on the network, each for at most the wait given or
// the adapter's own I/O timeout (a few seconds).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zs::triggers {

struct Message {
  // Unique within the source and stable across redeliveries: the JetStream
  // stream sequence, the Redis entry ID ("1700000000000-0"). The invocation's
  // X-Zeroscale-Message-Id and, with the trigger's identity, its X-Request-Id.
  std::string id;
  // The NATS subject the message was published on; the Redis stream's key.
  std::string subject;
  // NATS headers in order (a name may repeat). Redis entries have none.
  std::vector<std::pair<std::string, std::string>> headers;
  // The payload sent as the request body: NATS data as is; a Redis entry's
  // fields as a JSON object ({"field": "value", ...}), in entry order.
  std::string body;
  // The body's media type when the adapter knows it (Redis: application/json).
  std::string content_type;
  // 1 on first delivery, counted by the broker.
  int64_t attempt = 1;
};

class MessageSource {
 public:
  virtual ~MessageSource() = default;

  // Connects (or reconnects) and makes sure the durable consumer / consumer
  // group exists, creating it if absent, from the stream's first message
  // (NATS: DeliverAll with the filter subject and explicit acks; Redis:
  // XGROUP CREATE ... 0 MKSTREAM). An existing one is used as it is.
  // Idempotent; the loop calls it again after any error.
  // Errors say what failed in words an operator can act on ("dial
  // 127.0.0.1:4222: connection refused", "stream SUBMISSIONS not found",
  // "WRONGPASS invalid username-password pair").
  virtual absl::Status Connect() = 0;

  // Up to `max` (>= 1) messages, returning as soon as at least one is there
  // or after `wait` with none (OK, empty). Returns messages due again first
  // (Retry()'s, and those another consumer held longer than ack_wait).
  virtual absl::StatusOr<std::vector<Message>> Fetch(int max, std::chrono::milliseconds wait) = 0;

  // The message was handled: the broker forgets it for this consumer.
  virtual absl::Status Ack(const Message& message) = 0;

  // Deliver the message again, with attempt + 1, no sooner than `delay`.
  virtual absl::Status Retry(const Message& message, std::chrono::milliseconds delay) = 0;

  // Publishes the message to the dead-letter subject / stream with its
  // original headers (NATS) or fields (Redis) and body, plus where it came
  // from and why it was given up, then acknowledges it. Added headers
  // (NATS) / fields (Redis), all lower-case for Redis:
  //   Zeroscale-Error: the last error ("HTTP 500", "timeout after 35 s")
  //   Zeroscale-Attempts: attempts made
  //   Zeroscale-Source: the stream (NATS stream name / Redis key)
  //   Zeroscale-Source-Id: Message::id
  //   Zeroscale-Source-Subject: Message::subject (NATS only)
  //   Zeroscale-Trigger: <namespace>/<function>/<trigger>
  // Not acknowledged unless the publish was confirmed (JetStream PubAck,
  // XADD reply), so a failed publish loses nothing.
  virtual absl::Status DeadLetter(const Message& message, const std::string& error,
                                  const std::string& trigger) = 0;

  // The backlog: messages not yet delivered to the group plus messages
  // delivered and not acknowledged (NATS: num_pending + num_ack_pending;
  // Redis 7: XINFO GROUPS lag + pending).
  virtual absl::StatusOr<int64_t> Lag() = 0;
};

}  // namespace zs::triggers
