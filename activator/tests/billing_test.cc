#include "activator/metering/billing.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>
#include <nlohmann/json.hpp>

namespace zs::activator {
namespace {

using namespace std::chrono_literals;

TEST(BilledMillis, RoundsUpToWholeMilliseconds) {
  EXPECT_EQ(BilledMillis(0ns), 0);
  EXPECT_EQ(BilledMillis(-5ms), 0);
  EXPECT_EQ(BilledMillis(1ns), 1);
  EXPECT_EQ(BilledMillis(999us), 1);
  EXPECT_EQ(BilledMillis(1ms), 1);
  EXPECT_EQ(BilledMillis(1ms + 1ns), 2);
  EXPECT_EQ(BilledMillis(1500ms), 1500);
  EXPECT_EQ(BilledMillis(900s), 900'000);
}

TEST(GbSeconds, IsMillisTimesGibibytes) {
  // 128 MiB for 1 s = 0.125 GB-s (AWS Lambda's convention: MB/1024).
  EXPECT_DOUBLE_EQ(GbSeconds(1000, 128.0 * 1024 * 1024), 0.125);
  // 1 GiB for 1 ms.
  EXPECT_DOUBLE_EQ(GbSeconds(1, 1024.0 * 1024 * 1024), 0.001);
  EXPECT_DOUBLE_EQ(GbSeconds(0, 1e9), 0);
  EXPECT_DOUBLE_EQ(GbSeconds(10, 0), 0);
  // A 0.2 ms call at 256 MiB bills 1 ms.
  EXPECT_DOUBLE_EQ(GbSeconds(BilledMillis(200us), 256.0 * 1024 * 1024), 0.001 * 0.25);
}

InvocationRecord Sample() {
  InvocationRecord r;
  r.timestamp = SystemTime{} + std::chrono::seconds(1'780'000'000) + 5ms;
  r.request_id = "abc";
  r.ns = "default";
  r.function = "hello";
  r.method = "POST";
  r.path = "/a \"quoted\" path";
  r.code = 200;
  r.queued_ms = 12.5;
  r.duration_ms = 3.2;
  r.billed_ms = 4;
  r.memory_mb = 128;
  r.gb_seconds = GbSeconds(4, 128.0 * 1024 * 1024);
  r.cold_start = true;
  r.bytes_in = 10;
  r.bytes_out = 20;
  r.pod = "hello-abc";
  return r;
}

TEST(FormatRecord, HasEveryDesignMdField) {
  const auto line = FormatRecord(Sample());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  for (const char* field : {"timestamp", "request_id", "client_request_id", "namespace", "function", "method",
                            "path", "code", "queued_ms", "duration_ms", "billed_ms", "memory_mb",
                            "gb_seconds", "cold_start", "bytes_in", "bytes_out", "pod", "trigger"}) {
    EXPECT_TRUE(j.contains(field)) << field;
  }
  EXPECT_EQ(j["timestamp"], "2026-05-28T20:26:40.005Z");
  EXPECT_EQ(j["path"], "/a \"quoted\" path");
  EXPECT_EQ(j["code"], 200);
  EXPECT_EQ(j["billed_ms"], 4);
  EXPECT_DOUBLE_EQ(j["gb_seconds"].get<double>(), 0.0005);
  EXPECT_EQ(j["cold_start"], true);
}

double Value(prometheus::Counter& counter) { return counter.Value(); }

std::filesystem::path TempPath(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("zs-billing-" + std::to_string(::getpid()) + "-" + name);
}

std::vector<std::string> ReadLines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

TEST(BillingLog, AppendsOneLinePerRecordAndCountsThem) {
  const auto path = TempPath("append.log");
  std::filesystem::remove(path);
  Metrics metrics(std::make_shared<prometheus::Registry>());
  {
    BillingLog::Options options;
    options.target = path.string();
    auto log = BillingLog::Open(options, metrics);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 1000; ++i) {
      InvocationRecord r = Sample();
      r.request_id = "id-" + std::to_string(i);
      (*log)->Write(r);
    }
    (*log)->Close();
  }
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 1000u);
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_TRUE(nlohmann::json::accept(lines[i])) << lines[i];
    EXPECT_EQ(nlohmann::json::parse(lines[i])["request_id"], "id-" + std::to_string(i));
  }
  EXPECT_EQ(Value(metrics.billing_lines_written()), 1000);
  EXPECT_EQ(Value(metrics.BillingLinesDropped("queue_full")), 0);
  EXPECT_EQ(Value(metrics.BillingLinesDropped("write_error")), 0);
  EXPECT_EQ(metrics.billing_pending_bytes().Value(), 0);
  std::filesystem::remove(path);
}

TEST(BillingLog, UnwritablePathFailsAtOpen) {
  Metrics metrics(std::make_shared<prometheus::Registry>());
  BillingLog::Options options;
  options.target = "/nonexistent-dir/billing.log";
  auto missing = BillingLog::Open(options, metrics);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent-dir/billing.log"), std::string::npos);
  options.target = std::filesystem::temp_directory_path().string();  // a directory
  EXPECT_FALSE(BillingLog::Open(options, metrics).ok());
}

// A full disk: every write(2) fails with ENOSPC. Lines are kept (bounded)
// and retried, errors counted; at Close what is still held is counted as
// write_error and the rest as queue_full: every record is accounted for.
TEST(BillingLog, FullDiskCountsErrorsAndEveryLostLine) {
  ASSERT_TRUE(std::filesystem::exists("/dev/full"));
  Metrics metrics(std::make_shared<prometheus::Registry>());
  BillingLog::Options options;
  options.target = "/dev/full";
  options.max_pending_bytes = size_t{8} * 1024;
  options.flush_interval = std::chrono::milliseconds(1);
  auto log = BillingLog::Open(options, metrics);
  ASSERT_TRUE(log.ok()) << log.status();
  const std::string line = FormatRecord(Sample()) + "\n";
  const int records = 200;  // ~ 6x the bound
  for (int i = 0; i < records; ++i) (*log)->Write(Sample());
  // The writer tries (and fails) at least once before Close.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Value(metrics.billing_write_errors()) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();  // polling the writer thread, not waiting "enough"
  }
  EXPECT_GE(Value(metrics.billing_write_errors()), 1);
  EXPECT_LE(metrics.billing_pending_bytes().Value(), static_cast<double>(options.max_pending_bytes));
  (*log)->Close();
  const double queue_full = Value(metrics.BillingLinesDropped("queue_full"));
  const double write_error = Value(metrics.BillingLinesDropped("write_error"));
  EXPECT_EQ(Value(metrics.billing_lines_written()), 0);
  const size_t lines_that_fit = options.max_pending_bytes / line.size();
  EXPECT_GE(queue_full, records - static_cast<double>(lines_that_fit));
  EXPECT_GE(write_error, 1);
  EXPECT_EQ(queue_full + write_error, records);
}

// A reader that does not keep up (a pipe nobody reads): the writer blocks in
// write(2), memory stays within the bound, the surplus is dropped and
// counted; once the reader drains, what was kept arrives whole and
// written + dropped = records.
TEST(BillingLog, SlowReaderIsBoundedAndAccounted) {
  const auto fifo = TempPath("slow.fifo");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  Metrics metrics(std::make_shared<prometheus::Registry>());
  BillingLog::Options options;
  options.target = fifo.string();
  options.max_pending_bytes = size_t{16} * 1024;
  auto log = BillingLog::Open(options, metrics);
  ASSERT_TRUE(log.ok()) << log.status();
  // The pipe holds 64 KiB, memory 16 KiB: 2,000 lines (~ 700 KiB) overflow.
  const int records = 2000;
  for (int i = 0; i < records; ++i) {
    InvocationRecord r = Sample();
    r.request_id = "id-" + std::to_string(i);
    (*log)->Write(r);
  }
  EXPECT_GT(Value(metrics.BillingLinesDropped("queue_full")), 0);

  // Drain the pipe while Close flushes what was kept.
  ::fcntl(reader, F_SETFL, 0);
  std::string received;
  std::thread drain([&] {
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(reader, buffer, sizeof(buffer));
      if (n <= 0) break;  // EOF once the log closed its end
      received.append(buffer, static_cast<size_t>(n));
    }
  });
  (*log)->Close();
  drain.join();
  ::close(reader);
  std::filesystem::remove(fifo);

  std::istringstream in(received);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ASSERT_TRUE(nlohmann::json::accept(line)) << line;
    ++lines;
  }
  EXPECT_EQ(Value(metrics.billing_lines_written()), lines);
  EXPECT_EQ(Value(metrics.BillingLinesDropped("write_error")), 0);
  EXPECT_EQ(lines + Value(metrics.BillingLinesDropped("queue_full")), records);
  EXPECT_GT(lines, 0);
}

TEST(FormatRecord, CarriesTheClientRequestIdApart) {
  InvocationRecord r = Sample();
  r.client_request_id = "client-1";
  const auto j = nlohmann::json::parse(FormatRecord(r));
  EXPECT_EQ(j["request_id"], "abc");
  EXPECT_EQ(j["client_request_id"], "client-1");
  EXPECT_EQ(nlohmann::json::parse(FormatRecord(Sample()))["client_request_id"], "");
}

TEST(FormatRecord, NamesTheTriggerThatSentIt) {
  InvocationRecord r = Sample();
  r.trigger = "nightly";
  EXPECT_EQ(nlohmann::json::parse(FormatRecord(r))["trigger"], "nightly");
  EXPECT_EQ(nlohmann::json::parse(FormatRecord(Sample()))["trigger"], "") << "a client's request";
}

}  // namespace
}  // namespace zs::activator
