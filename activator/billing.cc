#include "activator/billing.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

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

void AppendNumber(std::string& out, double value) {
  char buffer[32];
  // Enough digits for a GB-second figure to sum up exactly enough, short
  // enough to keep lines small; %.10g never prints locale separators.
  std::snprintf(buffer, sizeof(buffer), "%.10g", std::isfinite(value) ? value : 0.0);
  out.append(buffer);
}

void AppendInt(std::string& out, int64_t value) {
  char buffer[24];
  std::snprintf(buffer, sizeof(buffer), "%lld", static_cast<long long>(value));
  out.append(buffer);
}

}  // namespace

std::string FormatRecord(const InvocationRecord& r) {
  std::string out;
  out.reserve(320 + r.path.size());
  out.append("{\"timestamp\":");
  AppendJsonString(out, FormatRfc3339Millis(r.timestamp));
  out.append(",\"request_id\":");
  AppendJsonString(out, r.request_id);
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
  out.append("}");
  return out;
}

absl::StatusOr<std::unique_ptr<BillingLog>> BillingLog::Open(const std::string& target) {
  if (target == "-") return std::unique_ptr<BillingLog>(new BillingLog(STDOUT_FILENO, false));
  const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return absl::UnavailableError(Cat("open billing log ", target, ": ", std::strerror(errno)));
  return std::unique_ptr<BillingLog>(new BillingLog(fd, true));
}

BillingLog::BillingLog(int fd, bool owns_fd) : fd_(fd), owns_fd_(owns_fd) {
  writer_ = std::thread([this] { Run(); });
}

BillingLog::~BillingLog() { Close(); }

void BillingLog::Write(const InvocationRecord& record) {
  std::string line = FormatRecord(record);
  line.push_back('\n');
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    pending_.append(line);
    wake = pending_.size() >= kFlushBytes;
  }
  if (wake) cv_.notify_one();
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

void BillingLog::Run() {
  std::string batch;
  for (;;) {
    bool done = false;
    {
      std::unique_lock lock(mu_);
      // The 100 ms bound is the real time a line may sit in memory; it is
      // not a test synchronisation point (tests Close() to flush).
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [&] { return closing_ || pending_.size() >= kFlushBytes; });
      batch.swap(pending_);
      done = closing_;
    }
    size_t written = 0;
    while (written < batch.size()) {
      const ssize_t n = ::write(fd_, batch.data() + written, batch.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        // Disk full or a closed pipe: say so loudly and drop this batch
        // rather than block the data path; metrics still count everything.
        log::Error("billing log write failed",
                   {{"error", std::strerror(errno)}, {"dropped_bytes", batch.size() - written}});
        break;
      }
      written += static_cast<size_t>(n);
    }
    batch.clear();
    if (done) return;
  }
}

}  // namespace zs::activator
