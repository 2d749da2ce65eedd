// Billing: the math (pure, unit-tested) and the per-invocation record that
// goes out as one JSON line.
//
// Decisions (DESIGN.md leaves them open):
// - A GB in "GB-seconds" is a GiB, 1024^3 bytes, as AWS Lambda's MB/1024
//   (its "MB" is a MiB). A Function requesting 128Mi is billed 0.125 GB.
// - Billed time is the forward duration (no buffer wait) rounded UP to the
//   next whole millisecond, at least 1 ms for anything forwarded; a request
//   that was never forwarded bills 0.
// - memory_mb in the record is MiB.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
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
  SystemTime timestamp;  // arrival at the activator
  std::string request_id;
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

// Appends lines to stdout or a file. The data path only appends to a memory
// buffer under a mutex; a writer thread flushes it every 100 ms or when it
// passes 64 KiB, so no request waits for a write(2). Close() (and the
// destructor) flushes what is left.
class BillingLog final : public BillingSink {
 public:
  // "-" is stdout; anything else a file opened for append.
  static absl::StatusOr<std::unique_ptr<BillingLog>> Open(const std::string& target);
  ~BillingLog() override;

  void Write(const InvocationRecord& record) override;
  void Close();

 private:
  BillingLog(int fd, bool owns_fd);
  void Run();

  const int fd_;
  const bool owns_fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  bool closing_ = false;
  std::thread writer_;
};

}  // namespace zs::activator
