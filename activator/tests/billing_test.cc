#include "activator/billing.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

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
  for (const char* field : {"timestamp", "request_id", "namespace", "function", "method", "path", "code",
                            "queued_ms", "duration_ms", "billed_ms", "memory_mb", "gb_seconds", "cold_start",
                            "bytes_in", "bytes_out", "pod"}) {
    EXPECT_TRUE(j.contains(field)) << field;
  }
  EXPECT_EQ(j["timestamp"], "2026-05-28T20:26:40.005Z");
  EXPECT_EQ(j["path"], "/a \"quoted\" path");
  EXPECT_EQ(j["code"], 200);
  EXPECT_EQ(j["billed_ms"], 4);
  EXPECT_DOUBLE_EQ(j["gb_seconds"].get<double>(), 0.0005);
  EXPECT_EQ(j["cold_start"], true);
}

TEST(BillingLog, AppendsOneLinePerRecordAndFlushesOnClose) {
  const auto path =
      std::filesystem::temp_directory_path() / ("zs-billing-" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(path);
  {
    auto log = BillingLog::Open(path.string());
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 1000; ++i) (*log)->Write(Sample());
    (*log)->Close();
  }
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
    ++lines;
  }
  EXPECT_EQ(lines, 1000);
  std::filesystem::remove(path);
}

TEST(BillingLog, UnwritablePathFailsAtOpen) {
  EXPECT_FALSE(BillingLog::Open("/nonexistent-dir/billing.log").ok());
}

}  // namespace
}  // namespace zs::activator
