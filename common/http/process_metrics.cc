#include "common/http/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "common/flags.h"
#include "common/log.h"

#ifndef ZS_VERSION
#define ZS_VERSION "unknown"
#endif
#ifndef ZS_REVISION
#define ZS_REVISION "unknown"
#endif

namespace zs::http {
namespace {

struct Stat {
  double cpu_seconds = 0;
  double start_seconds_after_boot = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

// /proc/self/stat: the command name (field 2) may hold spaces and parentheses,
// so fields are counted from the last ')'.
std::optional<Stat> ReadStat() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string field; fields >> field;) f.push_back(std::move(field));
  if (f.size() < 22) return std::nullopt;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  Stat stat;
  try {
    stat.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime, stime
    stat.start_seconds_after_boot = std::stod(f[19]) / ticks;          // starttime
    stat.virtual_bytes = std::stod(f[20]);                             // vsize
    stat.resident_bytes = std::stod(f[21]) * page;                     // rss (pages)
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return stat;
}

std::optional<double> BootTime() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double value = 0;
      if (in >> value) return value;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::optional<double> OpenFds() {
  std::error_code error;
  std::filesystem::directory_iterator it("/proc/self/fd", error);
  if (error) return std::nullopt;
  double count = 0;
  for (const auto& entry : it) {
    (void)entry;
    ++count;
  }
  return count - 1;  // the iterator's own descriptor
}

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddGauge(std::vector<prometheus::MetricFamily>& out, std::string name, std::string help,
              std::optional<double> value) {
  if (!value) return;
  prometheus::MetricFamily family = Family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
  prometheus::ClientMetric metric;
  metric.gauge.value = *value;
  family.metric.push_back(std::move(metric));
  out.push_back(std::move(family));
}

class ProcessCollector final : public prometheus::Collectable {
 public:
  explicit ProcessCollector(BuildInfo build) : build_(std::move(build)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    out.reserve(7);
    const std::optional<Stat> stat = ReadStat();
    if (stat) {
      prometheus::MetricFamily cpu =
          Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                 prometheus::MetricType::Counter);
      prometheus::ClientMetric metric;
      metric.counter.value = stat->cpu_seconds;
      cpu.metric.push_back(std::move(metric));
      out.push_back(std::move(cpu));
      AddGauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", stat->resident_bytes);
      AddGauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", stat->virtual_bytes);
      if (const std::optional<double> boot = BootTime()) {
        AddGauge(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                 *boot + stat->start_seconds_after_boot);
      }
    }
    AddGauge(out, "process_open_fds", "Number of open file descriptors.", OpenFds());
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      AddGauge(out, "process_max_fds", "Maximum number of open file descriptors.",
               static_cast<double>(limit.rlim_cur));
    }
    prometheus::MetricFamily info = Family(
        "zeroscale_build_info", "1, labelled with the component, version and git revision of this binary.",
        prometheus::MetricType::Gauge);
    prometheus::ClientMetric metric;
    metric.label = {
        {"component", build_.component}, {"revision", build_.revision}, {"version", build_.version}};
    metric.gauge.value = 1;
    info.metric.push_back(std::move(metric));
    out.push_back(std::move(info));
    return out;
  }

 private:
  const BuildInfo build_;
};

}  // namespace

BuildInfo ThisBuild(std::string component) { return {std::move(component), ZS_VERSION, ZS_REVISION}; }

std::shared_ptr<prometheus::Collectable> MakeProcessCollector(BuildInfo build) {
  return std::make_shared<ProcessCollector>(std::move(build));
}

std::optional<int> StartBinary(FlagSet& flags, int argc, char** argv, const std::string& component,
                               const bool& version, const std::string& log_level) {
  const std::string binary = "zeroscale-" + component;
  auto outcome = flags.Parse(argc, argv);
  if (!outcome.ok()) {
    std::cerr << binary << ": " << outcome.status().message() << "\n";
    return 2;
  }
  if (*outcome == FlagSet::Outcome::kHelp) {
    std::cout << flags.Usage();
    return 0;
  }
  if (version) {
    const BuildInfo build = ThisBuild(component);
    std::cout << binary << " " << build.version << " (revision " << build.revision << ")\n";
    return 0;
  }
  log::SetLogger(component);
  log::Level level;
  if (!log::ParseLevel(log_level, &level)) {
    std::cerr << binary << ": --log-level: unknown level \"" << log_level << "\"\n";
    return 2;
  }
  log::SetLevel(level);
  return std::nullopt;
}

}  // namespace zs::http
