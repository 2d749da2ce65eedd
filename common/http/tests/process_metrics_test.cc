// The process collector through a real AdminServer scrape: each figure moves
// when the process does what it measures (fds opened, memory touched, CPU
// burnt), so a parser reading the wrong /proc field fails here.
#include "common/http/process_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/flags.h"
#include "common/http/admin_server.h"

namespace zs::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

class ProcessMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AdminServer::Options options;
    options.bind_address = "127.0.0.1:0";
    options.collectables = {MakeProcessCollector({"test", "1.2.3", "abc123"})};
    auto server = AdminServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::string Scrape() {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    bhttp::request<bhttp::empty_body> req(bhttp::verb::get, "/metrics", 11);
    req.set(bhttp::field::host, "localhost");
    req.keep_alive(false);
    bhttp::write(stream, req);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    return res.body();
  }

  // "name value" lines (no labels) of one scrape.
  std::map<std::string, double> Samples() {
    std::map<std::string, double> out;
    std::istringstream lines(Scrape());
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] == '#' || line.find('{') != std::string::npos) continue;
      std::istringstream fields(line);
      std::string name;
      double value = 0;
      if (fields >> name >> value) out[name] = value;
    }
    return out;
  }

  std::unique_ptr<AdminServer> server_;
};

TEST_F(ProcessMetricsTest, BuildInfoCarriesComponentVersionAndRevision) {
  const std::string body = Scrape();
  EXPECT_NE(body.find("# TYPE zeroscale_build_info gauge"), std::string::npos) << body;
  EXPECT_NE(body.find(R"(zeroscale_build_info{component="test",revision="abc123",version="1.2.3"} 1)"),
            std::string::npos)
      << body;
  const BuildInfo mine = ThisBuild("controller");
  EXPECT_EQ(mine.component, "controller");
  EXPECT_FALSE(mine.version.empty());
  EXPECT_NE(mine.version, "unknown");  // CMake passes the project's version
}

TEST_F(ProcessMetricsTest, OpenFdsCountsDescriptorsAsTheyOpen) {
  const double before = Samples().at("process_open_fds");
  std::vector<int> fds;
  fds.reserve(20);
  for (int i = 0; i < 20; ++i) fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const double during = Samples().at("process_open_fds");
  for (int fd : fds) close(fd);
  EXPECT_NEAR(during - before, 20.0, 1.0);  // the scrape's own socket may come and go
  EXPECT_GE(Samples().at("process_max_fds"), during);
}

TEST_F(ProcessMetricsTest, ResidentMemoryFollowsTouchedPages) {
  constexpr size_t kBytes = size_t{64} * 1024 * 1024;
  const std::map<std::string, double> before = Samples();
  void* block = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(block, MAP_FAILED);
  std::memset(block, 1, kBytes);
  const std::map<std::string, double> during = Samples();
  munmap(block, kBytes);
  EXPECT_GE(during.at("process_resident_memory_bytes") - before.at("process_resident_memory_bytes"),
            0.9 * static_cast<double>(kBytes));
  EXPECT_GE(during.at("process_virtual_memory_bytes") - before.at("process_virtual_memory_bytes"),
            static_cast<double>(kBytes));
}

TEST_F(ProcessMetricsTest, CpuSecondsAndStartTimeAreOfThisProcess) {
  const double before = Samples().at("process_cpu_seconds_total");
  // Burn 300 ms of this process's own CPU time (not wall time).
  timespec start{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
  volatile uint64_t sink = 0;
  for (;;) {
    for (int i = 0; i < 100000; ++i) sink = sink + i;
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    if (static_cast<double>(now.tv_sec - start.tv_sec) +
            static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9 >=
        0.3)
      break;
  }
  const std::map<std::string, double> after = Samples();
  EXPECT_GE(after.at("process_cpu_seconds_total") - before, 0.2);
  // Started before now, and not before this test binary could have started.
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(after.at("process_start_time_seconds"), now + 1);
  EXPECT_GE(after.at("process_start_time_seconds"), now - 600);
}

}  // namespace
}  // namespace zs::http

namespace zs::http {
namespace {

// The start all binaries share: --version and --help stop with 0, a bad flag
// or level with 2, anything else goes on.
TEST(StartBinary, VersionHelpBadFlagsAndGoingOn) {
  auto run = [](std::vector<std::string> args) {
    bool version = false;
    std::string log_level = "info";
    FlagSet flags("zeroscale-test", "test");
    flags.Bool("version", &version, "");
    flags.String("log-level", &log_level, "");
    args.insert(args.begin(), "zeroscale-test");
    std::vector<char*> argv;
    argv.reserve(args.size());
    for (std::string& arg : args) argv.push_back(arg.data());
    return StartBinary(flags, static_cast<int>(argv.size()), argv.data(), "test", version, log_level);
  };
  EXPECT_EQ(run({"--version"}), 0);
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_EQ(run({"--bogus"}), 2);
  EXPECT_EQ(run({"--log-level=nope"}), 2);
  EXPECT_EQ(run({"--log-level=debug"}), std::nullopt);
}

}  // namespace
}  // namespace zs::http
