// Billing: the math (pure, unit-tested) and the per-invocation record that
// goes out as one JSON line.
//
// Decisions (docs/metrics-and-billing.md leaves them open):
// - A GB in "GB-seconds" is a GiB, 1024^3 bytes, as AWS Lambda's MB/1024
//   (its "MB" is a MiB). A Function requesting 128Mi is billed 0.125 GB.
// - Billed time is the forward duration (no buffer wait) rounded UP to the
//   next whole millisecond, at least 1 ms for anything forwarded; a request
//   that was never forwarded bills 0.
// - memory_mb in the record is MiB.
// - request_id is unique per invocation: the X-Request-Id when the activator
//   made it up, a new id when the client sent its own, which is kept in
//   client_request_id (a client may send the same id twice, a billing system
//   needs a key per invocation).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "activator/metering/metrics.h"
#include "common/clock.h"

namespace zs::activator {

inline constexpr double kBytesPerGb = 1024.0 * 1024.0 * 1024.0;
inline constexpr double kBytesPerMb = 1024.0 * 1024.0;

// Duration rounded up to whole milliseconds; 0 for a zero or negative span,
// 1 for anything in (0, 1 ms].
int64_t BilledMillis(Duration forward_duration);
// billed_ms / 1000 * memory_bytes / 1024^3.
double GbSeconds(int64_t billed_ms, double memory_bytes);

// One finished invocation, as billed and logged.
struct InvocationRecord {
  SystemTime timestamp;           // arrival at the activator
  std::string request_id;         // unique per invocation
  std::string client_request_id;  // the client's X-Request-Id, "" when it sent none
  std::string trigger;            // the Function's trigger that sent it, "" for a client
  std::string ns;
  std::string function;
  std::string method;
  std::string path;  // function-relative path, without the query string
  int code = 0;      // status sent to the client (499: client left)
  double queued_ms = 0;
  double duration_ms = 0;  // forward to last response byte
  int64_t billed_ms = 0;
  double memory_mb = 0;
  double gb_seconds = 0;
  bool cold_start = false;
  uint64_t bytes_in = 0;   // request body bytes relayed
  uint64_t bytes_out = 0;  // response body bytes relayed
  std::string pod;
};

// The record as one JSON object without a trailing newline.
std::string FormatRecord(const InvocationRecord& record);
// The same, appended to `out` (the data path formats into a reused buffer).
void AppendRecord(std::string& out, const InvocationRecord& record);

// Where records go.
class BillingSink {
 public:
  virtual ~BillingSink() = default;
  // Must not block on I/O: called on the data path.
  virtual void Write(const InvocationRecord& record) = 0;
};

class NullBillingSink final : public BillingSink {
 public:
  void Write(const InvocationRecord&) override {}
};

// Appends lines to stdout or a file, bounded, and accounts for every line.
//
// The data path formats a line into a thread-local buffer and appends it to
// its thread's shard (one per thread that writes, each with its own mutex,
// which only the writer thread ever contends for): no lock is shared by all
// workers and no request waits for a write(2). A writer thread collects the
// shards every 100 ms, or soon after 64 KiB are pending, and writes them.
// Lines of one thread keep their order; lines of different threads are
// ordered by when the writer collected them (each carries its timestamp).
// The memory is bounded (Options::max_pending_bytes, counting what the
// writer holds too): a line that would pass the bound is not kept and
// counted in zeroscale_billing_lines_dropped_total{reason="queue_full"}. A
// failed write(2) (disk full, I/O error, a closed pipe) is counted in
// zeroscale_billing_write_errors_total, logged when the failures start and
// when they end, and retried with a backoff (100 ms doubling to 5 s) while
// new lines queue up to the bound: a short outage loses nothing. Lines
// written are counted in zeroscale_billing_lines_written_total, so written
// + dropped = records.
//
// Lifecycle: Open(), Write() from any thread, Close() once (the destructor
// calls it): flushes what is left with one last attempt; lines that still
// cannot be written are counted as dropped {reason="write_error"}. Close()
// waits for a write(2) in progress, so a reader that never reads (a stuck
// stdout pipe) makes it wait.
class BillingLog final : public BillingSink {
 public:
  struct Options {
    // "-" is stdout; anything else a file opened for append (created 0640).
    std::string target = "-";
    size_t max_pending_bytes = size_t{16} * 1024 * 1024;
    // Longest a line may wait in memory when the log is healthy.
    std::chrono::milliseconds flush_interval{100};
  };
  // Fails when the file cannot be opened for writing.
  static absl::StatusOr<std::unique_ptr<BillingLog>> Open(const Options& options, Metrics& metrics);
  ~BillingLog() override;

  void Write(const InvocationRecord& record) override;
  void Close();

 private:
  // The lines one writing thread appended since the writer last collected.
  struct Shard {
    std::mutex mu;
    std::string pending;  // guarded by mu
  };

  BillingLog(const Options& options, Metrics& metrics, int fd, bool owns_fd);
  // The calling thread's shard (made on its first line).
  Shard& ShardOfThisThread();
  void Run();
  // Moves every shard's lines to the end of `batch`.
  void Collect(std::string& batch);
  // Writes as much of `batch` as it can; erases what was written and
  // returns false on an error (errno-style message in `error`).
  bool WriteBatch(std::string& batch, std::string& error);

  const Options options_;
  Metrics& metrics_;
  const int fd_;
  const bool owns_fd_;
  // Tells this log's shards apart in the threads' caches.
  const uint64_t id_;
  std::mutex shards_mu_;  // taken once per thread, on its first line
  std::vector<std::unique_ptr<Shard>> shards_;
  // Bytes in the shards plus those the writer took and has not written.
  std::atomic<size_t> queued_bytes_{0};
  std::atomic<bool> closed_{false};  // later Write()s are dropped and counted
  std::mutex mu_;                    // the writer's sleep
  std::condition_variable cv_;
  bool closing_ = false;              // guarded by mu_
  std::atomic<uint64_t> dropped_{0};  // queue_full drops, for the writer's log lines
  std::thread writer_;
};

}  // namespace zs::activator
