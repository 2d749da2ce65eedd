// EventCorrelator: what client-go's EventCorrelator does for the Events a
// component records, decided before anything is sent to the apiserver.
//
//   - Aggregation: an Event identical to one recorded within `window` (same
//     Function uid, type, reason and message) is not created again; the
//     earlier Event's count goes up and its lastTimestamp moves (kubectl
//     describe shows "x5 over 3m"). A bigger window than the last repeat
//     starts a new Event.
//   - Spam filter: a token bucket per Function (`burst` Events, one more
//     every `refill_every`, client-go's defaults 25 and 5 minutes). An
//     Event with no token left is dropped, whether new or a repeat, so a
//     hot loop cannot flood etcd or the apiserver.
//   - Memory is bounded: at most `max_series` distinct Events and as many
//     buckets are remembered (least recently used forgotten first).
//
// Pure logic on injected times; the recorder's worker owns it.
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace zs::controller {

struct EventRecord {
  std::string ns;
  std::string name;  // the Function's
  std::string uid;   // the Function's
  std::string type;  // Normal, Warning
  std::string reason;
  std::string message;
};

class EventCorrelator {
 public:
  struct Options {
    Duration window = std::chrono::minutes(10);
    int burst = 25;
    Duration refill_every = std::chrono::minutes(5);
    size_t max_series = 4096;
  };
  enum class Action { kCreate, kBump, kDrop };
  struct Verdict {
    Action action = Action::kCreate;
    std::string event_name;  // kBump: the Event to patch
    int32_t count = 1;       // the count to write
    SystemTime first;        // the series' firstTimestamp
  };

  EventCorrelator();
  explicit EventCorrelator(Options options);

  // Decides what recording `e` at (now, wall) means, and notes it.
  Verdict Observe(const EventRecord& e, MonotonicTime now, SystemTime wall);
  // The apiserver named the Event it created for `e`: repeats bump it.
  void Created(const EventRecord& e, const std::string& event_name);
  // The Event of `e`'s series could not be written: the next repeat
  // creates a new one.
  void Forget(const EventRecord& e);
  // The Event of `e`'s series is gone (expired): `e` starts the series again
  // as a new Event (its token was taken by Observe already).
  void Restart(const EventRecord& e, MonotonicTime now, SystemTime wall);

  size_t series() const { return series_.size(); }

 private:
  struct Series {
    std::string event_name;
    int32_t count = 0;
    SystemTime first;
    MonotonicTime last;
    std::list<std::string>::iterator lru;
  };
  struct Bucket {
    double tokens = 0;
    MonotonicTime at;
    std::list<std::string>::iterator lru;
  };
  bool TakeToken(const std::string& function, MonotonicTime now);
  // The series of `key`, most recently used now, started over with one
  // Event not yet created.
  void StartSeries(const std::string& key, MonotonicTime now, SystemTime wall);

  const Options options_;
  std::unordered_map<std::string, Series> series_;
  std::list<std::string> series_lru_;  // most recent first
  std::unordered_map<std::string, Bucket> buckets_;
  std::list<std::string> buckets_lru_;
};

}  // namespace zs::controller
