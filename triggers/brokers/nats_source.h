// The NATS JetStream adapter of MessageSource (source.h): a durable pull
// consumer on an existing stream, through nats.c (Debian's libnats-dev).
//
// Mapping:
// - Message::id is the stream sequence ("42"), attempt the consumer's
//   num_delivered, headers every NATS header (names in byte order: nats.c
//   keeps them in a hash and does not expose the wire order across names;
//   the values of one name keep theirs), body the data as is.
// - Ack is a confirmed ack (AckSync); Retry a NAK with delay, confirmed too;
//   a message handed out stays held (its natsMsg kept for the ack token)
//   until one of Ack/Retry/DeadLetter succeeds. A destroyed source acks
//   nothing: JetStream delivers what it held again after the consumer's
//   AckWait.
// - DeadLetter publishes through JetStream and waits for the PubAck (no
//   stream capturing the subject = an error, and no ack). The copy carries
//   the original headers and data plus the Zeroscale-* headers of source.h,
//   except JetStream's publish directives, which the dead-letter stream
//   would enforce again: Nats-Expected-* and Nats-Rollup are dropped, and
//   Nats-Msg-Id becomes "<stream>:<sequence>" (so a dead letter published
//   twice, because its ack failed, is stored once; the original id is kept
//   as Zeroscale-Source-Msg-Id).
// - The consumer is created when absent (DeliverAll, AckExplicit, the filter
//   subject, AckWait, MaxAckPending, MaxDeliver unlimited: giving up is the
//   delivery loop's decision); an existing one is used as it is, unless its
//   filter subject is not ours.
//
// The connection reconnects by itself (nats.c, forever, every second); while
// it is down every call fails at once with "... disconnected from the
// server", and Connect() succeeds again once it is back. Credentials (.creds
// contents) are kept in memory and handed to nats.c through callbacks, so
// reconnections can sign the server's nonce without a file on disk.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "triggers/brokers/source.h"

namespace zs::triggers {

struct NatsSourceConfig {
  // nats://host:port, a comma-separated list allowed; may carry user:pass@
  // (the password never appears in errors).
  std::string url;
  // JetStream stream name; must exist (it is not created here).
  std::string stream;
  // Filter subject of the consumer; empty = all the stream's subjects.
  std::string subject;
  // Durable pull consumer name, created if absent.
  std::string consumer;
  // Contents of a NATS .creds file (user JWT + NKey seed); empty = none.
  std::string credentials;
  // Where DeadLetter() publishes (through JetStream: a stream must capture
  // it). Must not be matched by the consumer's filter (or, without one, by
  // the stream's subjects): the consumer would read its own dead letters.
  // Empty: DeadLetter() fails.
  std::string dead_letter_subject;
  // The consumer's AckWait when we create it: an unacknowledged message is
  // delivered again after this.
  std::chrono::milliseconds ack_wait{60000};
  // The consumer's MaxAckPending when we create it.
  int max_ack_pending = 1000;
  // Connection timeout and the wait for every JetStream API reply, ack and
  // PubAck.
  std::chrono::milliseconds io_timeout{5000};
};

std::unique_ptr<MessageSource> MakeNatsSource(NatsSourceConfig config);

// Whether `subject` (literal tokens) is matched by `filter` under NATS rules:
// tokens split on '.', `*` matches one token, a trailing `>` one or more.
// Exposed for tests.
bool NatsSubjectMatches(const std::string& filter, const std::string& subject);

}  // namespace zs::triggers
