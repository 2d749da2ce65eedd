#include "controller/event_correlator.h"

#include <algorithm>

#include "common/strings.h"

namespace zs::controller {

namespace {

std::string SeriesKey(const EventRecord& e) {
  return Cat(e.ns, '\0', e.name, '\0', e.uid, '\0', e.type, '\0', e.reason, '\0', e.message);
}

std::string FunctionKey(const EventRecord& e) { return Cat(e.ns, '\0', e.name, '\0', e.uid); }

}  // namespace

EventCorrelator::EventCorrelator() : EventCorrelator(Options{}) {}

EventCorrelator::EventCorrelator(Options options) : options_(options) {}

bool EventCorrelator::TakeToken(const std::string& function, MonotonicTime now) {
  auto it = buckets_.find(function);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_series) {
      buckets_.erase(buckets_lru_.back());
      buckets_lru_.pop_back();
    }
    buckets_lru_.push_front(function);
    it = buckets_.emplace(function, Bucket{static_cast<double>(options_.burst), now, buckets_lru_.begin()})
             .first;
  } else {
    buckets_lru_.splice(buckets_lru_.begin(), buckets_lru_, it->second.lru);
  }
  Bucket& b = it->second;
  if (now > b.at && options_.refill_every.count() > 0) {
    const double earned =
        std::chrono::duration<double>(now - b.at) / std::chrono::duration<double>(options_.refill_every);
    b.tokens = std::min(static_cast<double>(options_.burst), b.tokens + earned);
    b.at = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

EventCorrelator::Verdict EventCorrelator::Observe(const EventRecord& e, MonotonicTime now, SystemTime wall) {
  if (!TakeToken(FunctionKey(e), now)) return Verdict{Action::kDrop, "", 0, wall};
  const std::string key = SeriesKey(e);
  auto it = series_.find(key);
  if (it != series_.end() && now - it->second.last <= options_.window && !it->second.event_name.empty()) {
    Series& s = it->second;
    series_lru_.splice(series_lru_.begin(), series_lru_, s.lru);
    s.count += 1;
    s.last = now;
    return Verdict{Action::kBump, s.event_name, s.count, s.first};
  }
  // A new series: either never seen, older than the window, or its create
  // has not been confirmed (failed, or still being sent).
  StartSeries(key, now, wall);
  return Verdict{Action::kCreate, "", 1, wall};
}

void EventCorrelator::StartSeries(const std::string& key, MonotonicTime now, SystemTime wall) {
  auto it = series_.find(key);
  if (it == series_.end()) {
    if (series_.size() >= options_.max_series) {
      series_.erase(series_lru_.back());
      series_lru_.pop_back();
    }
    series_lru_.push_front(key);
    it = series_.emplace(key, Series{}).first;
    it->second.lru = series_lru_.begin();
  } else {
    series_lru_.splice(series_lru_.begin(), series_lru_, it->second.lru);
  }
  Series& s = it->second;
  s.event_name.clear();
  s.count = 1;
  s.first = wall;
  s.last = now;
}

void EventCorrelator::Restart(const EventRecord& e, MonotonicTime now, SystemTime wall) {
  StartSeries(SeriesKey(e), now, wall);
}

void EventCorrelator::Created(const EventRecord& e, const std::string& event_name) {
  auto it = series_.find(SeriesKey(e));
  if (it != series_.end()) it->second.event_name = event_name;
}

void EventCorrelator::Forget(const EventRecord& e) {
  auto it = series_.find(SeriesKey(e));
  if (it == series_.end()) return;
  series_lru_.erase(it->second.lru);
  series_.erase(it);
}

}  // namespace zs::controller
