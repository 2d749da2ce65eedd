#include "activator/metering/billing.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "activator/errors.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_format.h"

namespace zs::activator {

int64_t BilledMillis(Duration forward_duration) {
  const int64_t ns = forward_duration.count();
  if (ns <= 0) return 0;
  constexpr int64_t kNanosPerMilli = 1'000'000;
  return (ns + kNanosPerMilli - 1) / kNanosPerMilli;
}

double GbSeconds(int64_t billed_ms, double memory_bytes) {
  if (billed_ms <= 0 || memory_bytes <= 0) return 0;
  return (static_cast<double>(billed_ms) / 1000.0) * (memory_bytes / kBytesPerGb);
}

namespace {

// The writer is woken early once this many bytes are pending.
constexpr size_t kFlushBytes = size_t{64} * 1024;
// Retries of a failing log: first after this, doubling up to the cap.
constexpr std::chrono::milliseconds kFirstRetry{100};
constexpr std::chrono::milliseconds kMaxRetry{5000};

uint64_t CountLines(std::string_view bytes) {
  return static_cast<uint64_t>(std::count(bytes.begin(), bytes.end(), '\n'));
}

void AppendNumber(std::string& out, double value) {
  char buffer[32];
  // Enough digits for a GB-second figure to sum up exactly enough, short
  // enough to keep lines small: printf's %.10g, without its locale.
  const auto end = std::to_chars(buffer, buffer + sizeof(buffer), std::isfinite(value) ? value : 0.0,
                                 std::chars_format::general, 10)
                       .ptr;
  out.append(buffer, static_cast<size_t>(end - buffer));
}

void AppendInt(std::string& out, int64_t value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
  out.append(buffer, static_cast<size_t>(end - buffer));
}

// Each BillingLog's id, so that a thread's cache of shards never confuses
// a log with one made later at the same address.
std::atomic<uint64_t> next_log_id{1};

// A shard whose buffer grew past this in a burst gives the memory back once
// the writer has emptied it.
constexpr size_t kShardKeepBytes = size_t{256} * 1024;

}  // namespace

std::string FormatRecord(const InvocationRecord& r) {
  std::string out;
  out.reserve(380 + r.path.size() + r.client_request_id.size() + r.trigger.size());
  AppendRecord(out, r);
  return out;
}

void AppendRecord(std::string& out, const InvocationRecord& r) {
  out.append("{\"timestamp\":\"");
  AppendRfc3339Millis(out, r.timestamp);  // digits, '-', ':', '.', 'T', 'Z': nothing to escape
  out.push_back('"');
  out.append(",\"request_id\":");
  AppendJsonString(out, r.request_id);
  out.append(",\"client_request_id\":");
  AppendJsonString(out, r.client_request_id);
  out.append(",\"namespace\":");
  AppendJsonString(out, r.ns);
  out.append(",\"function\":");
  AppendJsonString(out, r.function);
  out.append(",\"method\":");
  AppendJsonString(out, r.method);
  out.append(",\"path\":");
  AppendJsonString(out, r.path);
  out.append(",\"code\":");
  AppendInt(out, r.code);
  out.append(",\"queued_ms\":");
  AppendNumber(out, r.queued_ms);
  out.append(",\"duration_ms\":");
  AppendNumber(out, r.duration_ms);
  out.append(",\"billed_ms\":");
  AppendInt(out, r.billed_ms);
  out.append(",\"memory_mb\":");
  AppendNumber(out, r.memory_mb);
  out.append(",\"gb_seconds\":");
  AppendNumber(out, r.gb_seconds);
  out.append(",\"cold_start\":");
  out.append(r.cold_start ? "true" : "false");
  out.append(",\"bytes_in\":");
  AppendInt(out, static_cast<int64_t>(r.bytes_in));
  out.append(",\"bytes_out\":");
  AppendInt(out, static_cast<int64_t>(r.bytes_out));
  out.append(",\"pod\":");
  AppendJsonString(out, r.pod);
  out.append(",\"trigger\":");
  AppendJsonString(out, r.trigger);
  out.append("}");
}

absl::StatusOr<std::unique_ptr<BillingLog>> BillingLog::Open(const Options& options, Metrics& metrics) {
  if (options.target == "-") {
    return std::unique_ptr<BillingLog>(new BillingLog(options, metrics, STDOUT_FILENO, false));
  }
  const int fd = ::open(options.target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::UnavailableError(Cat("open billing log ", options.target, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<BillingLog>(new BillingLog(options, metrics, fd, true));
}

BillingLog::BillingLog(const Options& options, Metrics& metrics, int fd, bool owns_fd)
    : options_(options), metrics_(metrics), fd_(fd), owns_fd_(owns_fd), id_(next_log_id.fetch_add(1)) {
  writer_ = std::thread([this] { Run(); });
}

BillingLog::~BillingLog() { Close(); }

BillingLog::Shard& BillingLog::ShardOfThisThread() {
  // Logs this thread wrote to, by id: usually one, so a scan is the lookup.
  thread_local std::vector<std::pair<uint64_t, Shard*>> mine;
  for (const auto& [id, shard] : mine) {
    if (id == id_) return *shard;
  }
  std::lock_guard lock(shards_mu_);
  Shard& shard = *shards_.emplace_back(std::make_unique<Shard>());
  mine.emplace_back(id_, &shard);
  return shard;
}

void BillingLog::Write(const InvocationRecord& record) {
  // Formatted outside any lock, into this thread's buffer (no allocation once
  // it has grown to a line's size).
  thread_local std::string line;
  line.clear();
  AppendRecord(line, record);
  line.push_back('\n');
  const size_t size = line.size();
  bool kept = false;
  bool wake = false;
  Shard& shard = ShardOfThisThread();
  {
    // Under the shard's lock, so that the writer's last collection (after it
    // set closed_) either takes this line or this Write sees closed_.
    std::lock_guard lock(shard.mu);
    size_t queued = queued_bytes_.load(std::memory_order_relaxed);
    while (!closed_.load(std::memory_order_relaxed) && queued + size <= options_.max_pending_bytes) {
      if (queued_bytes_.compare_exchange_weak(queued, queued + size, std::memory_order_relaxed)) {
        shard.pending.append(line);
        kept = true;
        wake = queued < kFlushBytes && queued + size >= kFlushBytes;
        break;
      }
    }
  }
  if (!kept) {
    // Behind by more than the bound (or already closed): counted, and the
    // writer logs that lines are being dropped.
    metrics_.BillingLinesDropped("queue_full").Increment();
    dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  if (wake) {
    // Once per kFlushBytes, not per line: the writer's lock is not on the
    // data path otherwise.
    std::lock_guard lock(mu_);
    cv_.notify_one();
  }
}

void BillingLog::Close() {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
  }
  cv_.notify_one();
  if (writer_.joinable()) writer_.join();
  if (owns_fd_) ::close(fd_);
}

void BillingLog::Collect(std::string& batch) {
  std::lock_guard registry(shards_mu_);
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    batch.append(shard->pending);
    if (shard->pending.capacity() > kShardKeepBytes) {
      std::string().swap(shard->pending);
    } else {
      shard->pending.clear();
    }
  }
}

bool BillingLog::WriteBatch(std::string& batch, std::string& error) {
  size_t written = 0;
  bool ok = true;
  while (written < batch.size()) {
    const ssize_t n = ::write(fd_, batch.data() + written, batch.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::strerror(errno);
      ok = false;
      break;
    }
    written += static_cast<size_t>(n);
  }
  // A line counts as written once its newline is; the rest of a line cut
  // by an error goes out with the retry.
  metrics_.billing_lines_written().Increment(static_cast<double>(CountLines({batch.data(), written})));
  batch.erase(0, written);
  queued_bytes_.fetch_sub(written, std::memory_order_relaxed);
  return ok;
}

void BillingLog::Run() {
  std::string batch;  // collected from the shards, not written yet
  std::chrono::milliseconds retry{0};
  uint64_t failed_writes = 0;  // in the current run of failures
  uint64_t dropped_logged = 0;
  bool dropping = false;
  for (;;) {
    bool done = false;
    {
      std::unique_lock lock(mu_);
      metrics_.billing_pending_bytes().Set(
          static_cast<double>(queued_bytes_.load(std::memory_order_relaxed)));
      // These bounds are the real time a line may sit in memory (or between
      // two attempts on a failing log); tests Close() to flush.
      cv_.wait_for(lock, retry.count() > 0 ? retry : options_.flush_interval, [&] {
        return closing_ || (retry.count() == 0 &&
                            queued_bytes_.load(std::memory_order_relaxed) - batch.size() >= kFlushBytes);
      });
      done = closing_;
    }
    // Later Write()s are dropped and counted; the collection below takes
    // every line written before.
    if (done) closed_.store(true, std::memory_order_relaxed);
    Collect(batch);
    std::string error;
    if (batch.empty() || WriteBatch(batch, error)) {
      if (failed_writes > 0) {
        log::Info("billing log writable again", {{"failed_writes", failed_writes}});
        failed_writes = 0;
      }
      retry = std::chrono::milliseconds(0);
    } else {
      metrics_.billing_write_errors().Increment();
      if (failed_writes++ == 0) {
        log::Error("billing log write failed; lines are kept and retried",
                   {{"error", error}, {"pending_bytes", batch.size()}});
      }
      retry = std::clamp(retry * 2, kFirstRetry, kMaxRetry);
    }
    // Lines refused by Write() are counted there; say so here, once when
    // it starts and once when it stops, not once per line.
    const uint64_t dropped = dropped_.load(std::memory_order_relaxed);
    if (dropped != dropped_logged && !dropping) {
      log::Error("billing log behind: dropping lines",
                 {{"max_pending_bytes", options_.max_pending_bytes}, {"dropped_lines", dropped}});
      dropping = true;
    } else if (dropped == dropped_logged && dropping) {
      log::Warn("billing log caught up", {{"dropped_lines_total", dropped}});
      dropping = false;
    }
    dropped_logged = dropped;
    if (done) break;
  }
  if (!batch.empty()) {
    const uint64_t lost = CountLines(batch);
    metrics_.BillingLinesDropped("write_error").Increment(static_cast<double>(lost));
    log::Error("billing log closed with lines it could not write", {{"dropped_lines", lost}});
    queued_bytes_.fetch_sub(batch.size(), std::memory_order_relaxed);
  }
  metrics_.billing_pending_bytes().Set(0);
}

}  // namespace zs::activator
