// FailureBackoff: how long each Function waits before its children are
// written again after a failed write (a foreign object of the same name, a
// 422, a 403, an apiserver error).
//
// Per Function (key "ns/name"): the n-th consecutive failure blocks attempts
// for min(initial * factor^(n-1), max), scaled by a random factor in
// [1 - jitter, 1 + jitter] so that many Functions failing together (an
// apiserver outage) do not retry in step. The block belongs to one
// incarnation and generation of the Function (`token`, e.g. "uid/7"): an
// edited or recreated Function is tried at once, since the edit may be the
// fix. Success or deletion forgets the key, so the state lives and dies with
// the Function.
//
// Why here and not only in the work queue: the queue's rate limit spaces
// requeues, but every watch event (a status write, a change to the
// conflicting object, a resync) adds the key at once; the reconciler asks
// this gate before touching a child, so no event makes a faster loop.
//
// Time comes from the injected Clock. Thread-safety: every method may be
// called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "common/clock.h"

namespace zs::controller {

struct FailureBackoffOptions {
  Duration initial = std::chrono::seconds(1);
  Duration max = std::chrono::minutes(5);
  double factor = 2.0;
  double jitter = 0.1;  // 0 = deterministic (tests)
  uint64_t seed = 0;    // 0 = random
};

class FailureBackoff {
 public:
  explicit FailureBackoff(Clock& clock, FailureBackoffOptions options = {});

  // Time left before `key` may be attempted again; nullopt when it may be
  // attempted now (no failure, the block is over, or `token` differs from
  // the failed attempt's).
  std::optional<Duration> Blocked(const std::string& key, const std::string& token) const;
  // Records a failed attempt of `key` at `token`; returns the delay before the
  // next attempt. Consecutive failures of one token double it up to max.
  Duration Failed(const std::string& key, const std::string& token);
  // A successful attempt, or a deleted Function: the key starts afresh.
  void Forget(const std::string& key);
  // Consecutive failures recorded for `key` (0 when none).
  int Failures(const std::string& key) const;
  size_t size() const;

 private:
  struct Entry {
    std::string token;
    int failures = 0;
    MonotonicTime retry_at{};
  };
  Clock& clock_;
  const FailureBackoffOptions options_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::string, Entry> entries_;
};

}  // namespace zs::controller
