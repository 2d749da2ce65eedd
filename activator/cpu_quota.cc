#include "activator/cpu_quota.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace zs::activator {
namespace {

std::optional<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

std::optional<double> ParseNumber(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

// "200000 100000" -> 2; "max 100000" -> nullopt.
std::optional<double> QuotaFromCpuMax(const std::string& directory) {
  auto line = ReadFirstLine(directory + "/cpu.max");
  if (!line) return std::nullopt;
  std::istringstream in(*line);
  std::string quota;
  std::string period;
  if (!(in >> quota >> period) || quota == "max") return std::nullopt;
  auto q = ParseNumber(quota);
  auto p = ParseNumber(period);
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return *q / *p;
}

// cpu.cfs_quota_us over cpu.cfs_period_us; -1 (or absent) -> nullopt.
std::optional<double> QuotaFromCfs(const std::string& directory) {
  auto quota = ReadFirstLine(directory + "/cpu.cfs_quota_us");
  auto period = ReadFirstLine(directory + "/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  auto q = ParseNumber(*quota);
  auto p = ParseNumber(*period);
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return *q / *p;
}

struct Mount {
  std::string root;         // the path inside the hierarchy mounted there
  std::string mount_point;  // where, in the process's view
};

// The cgroup v2 mount (version 2) or the v1 mount carrying the "cpu"
// controller (version 1), from /proc/self/mountinfo.
std::optional<Mount> FindMount(const std::string& root, int version) {
  std::ifstream in(root + "/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, device, mount_root, mount_point;
    if (!(head >> id >> parent >> device >> mount_root >> mount_point)) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, options;
    if (!(tail >> fstype >> source >> options)) continue;
    if (version == 2 && fstype == "cgroup2") return Mount{mount_root, mount_point};
    if (version == 1 && fstype == "cgroup") {
      for (const std::string& option : Split(options, ',')) {
        if (option == "cpu") return Mount{mount_root, mount_point};
      }
    }
  }
  return std::nullopt;
}

// The process's cgroup path in the v2 hierarchy (version 2: the "0::" line)
// or in the v1 hierarchy with the "cpu" controller.
std::optional<std::string> CgroupPath(const std::string& root, int version) {
  std::ifstream in(root + "/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string hierarchy = line.substr(0, first);
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (version == 2 && hierarchy == "0" && controllers.empty()) return path;
    if (version == 1) {
      for (const std::string& controller : Split(controllers, ',')) {
        if (controller == "cpu") return path;
      }
    }
  }
  return std::nullopt;
}

// The smallest quota from the process's cgroup up to the mount's root.
std::optional<double> QuotaIn(const std::string& root, int version) {
  auto mount = FindMount(root, version);
  auto path = CgroupPath(root, version);
  if (!mount || !path) return std::nullopt;
  // The path relative to what is mounted: a container that sees its host's
  // path but has only its own cgroup mounted reads that one.
  std::string relative = *path;
  if (mount->root != "/" && relative.starts_with(mount->root)) relative = relative.substr(mount->root.size());
  const std::string base = root + mount->mount_point;
  std::string directory = base + (relative == "/" ? "" : relative);
  std::optional<double> smallest;
  for (;;) {
    auto quota = version == 2 ? QuotaFromCpuMax(directory) : QuotaFromCfs(directory);
    if (quota && (!smallest || *quota < *smallest)) smallest = quota;
    if (directory.size() <= base.size()) break;
    directory = directory.substr(0, directory.rfind('/'));
    if (directory.size() < base.size()) directory = base;
  }
  return smallest;
}

}  // namespace

std::optional<double> CpuQuota(const std::string& root) {
  const std::string prefix = root == "/" ? "" : root;
  auto v2 = QuotaIn(prefix, 2);
  auto v1 = QuotaIn(prefix, 1);
  if (v2 && v1) return std::min(*v2, *v1);
  return v2 ? v2 : v1;
}

int ThreadsForCpuQuota(std::optional<double> quota, int available_cpus) {
  const int available = std::max(1, available_cpus);
  if (!quota) return available;
  const double rounded = std::ceil(*quota - 1e-9);  // 2.0000000001 from float noise is 2
  return std::clamp(static_cast<int>(std::min(rounded, 1e6)), 1, available);
}

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace zs::activator
