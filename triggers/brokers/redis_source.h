// The Redis Streams adapter of MessageSource (source.h): one consumer of a
// consumer group, over one synchronous hiredis connection.
//
// How the verbs map:
// - Connect: TCP connect (io_timeout), AUTH when a password is set, then
//   XGROUP CREATE <stream> <group> 0 MKSTREAM (BUSYGROUP: the group exists and
//   is used as it is).
// - Fetch, in this order, up to `max` messages:
//   1. this source's own Retry()s that are due: XCLAIM (which counts a
//      delivery) with a min-idle of the time since Fetch() handed the entry
//      out (or last renewed it, below), so one that another consumer took
//      meanwhile stays theirs;
//   2. entries of any consumer idle for ack_wait or longer: XPENDING IDLE,
//      then XCLAIM with min-idle ack_wait, so two claimers cannot both get one;
//   3. new entries: XREADGROUP ... BLOCK (the wait, cut short when a retry
//      falls due meanwhile) ... STREAMS <stream> >, attempt 1.
//   `attempt` is the pending entry's delivery count, read back with a ranged
//   XPENDING right after the claim. Entries deleted from the stream while
//   pending are dropped from the group (Redis 7 does it in XCLAIM itself;
//   older servers reply nil, and the entry is XACKed) and never handed out.
//   While a Retry() waits longer than ack_wait / 2, Fetch and Lag renew the
//   entry's idle time (XCLAIM ... JUSTID, which counts no delivery) so that
//   no consumer claims it before its delay. (The delivery loop stops
//   fetching while its invocations fill every slot, but not reading Lag.)
// - Message: id = entry ID, subject = stream key, no headers, body = the
//   entry's fields as a JSON object in entry order (a repeated field keeps its
//   first position and its last value; bytes that are not UTF-8 become
//   U+FFFD), content type application/json.
// - Ack: XACK. Retry: remembered here; the entry stays pending in this
//   consumer's name (a crash leaves it to ack_wait). The source keeps, per
//   message handed out and not yet acked, retried or dead-lettered, the time
//   it was fetched.
// - DeadLetter: XADD <dead_letter_stream> * <the entry's original fields, read
//   back byte for byte with XRANGE (from the body if the entry is gone)>
//   zeroscale-error .. zeroscale-attempts .. zeroscale-source ..
//   zeroscale-source-id .. zeroscale-trigger ..; XACK only once XADD replied
//   with an ID.
// - Lag: XINFO GROUPS -> lag + pending. Redis reports lag as nil when it
//   cannot count it (entries deleted past the group's position, or a group
//   set to an arbitrary ID); then entries-added - entries-read stands in for
//   it, or XLEN when entries-read is unknown too: both count at least every
//   undelivered entry, so the estimate errs on the side of more work.
//
// Errors are absl::UnavailableError("redis <address>: ..."): "connection
// refused", "WRONGPASS invalid username-password pair or user is disabled.",
// "stream orders: WRONGTYPE Operation against a key holding the wrong kind of
// value". An I/O error (refused, timed out, closed) drops the connection; the
// next call reconnects. A SIGPIPE raised by writing to a closed socket is
// swallowed in the calling thread, whatever the process does with SIGPIPE.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "triggers/brokers/source.h"

namespace zs::triggers {

struct RedisSourceConfig {
  std::string address;   // host:port ([v6]:port); the port defaults to 6379
  std::string stream;    // the stream's key
  std::string group;     // consumer group, created if absent (XGROUP CREATE stream group 0 MKSTREAM)
  std::string consumer;  // this process's consumer name in the group (its identity)
  std::string password;  // AUTH when not empty
  std::string dead_letter_stream;  // XADD target for given-up messages
  // A pending entry idle longer than this, held by anyone, is claimed again.
  std::chrono::milliseconds ack_wait{60000};
  // Connect and command timeout (a blocking read waits its wait on top).
  std::chrono::milliseconds io_timeout{5000};
};

std::unique_ptr<MessageSource> MakeRedisSource(RedisSourceConfig config);

}  // namespace zs::triggers
