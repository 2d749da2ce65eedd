// What every Prometheus client library says about its own process, under the
// names those libraries use (client_golang's process collector), plus
// zeroscale_build_info: dashboards and alerts written for any Go or Java
// exporter work on zeroscale's binaries unchanged.
//
//   process_cpu_seconds_total        counter  user + system CPU time
//   process_resident_memory_bytes    gauge    RSS
//   process_virtual_memory_bytes     gauge    virtual size
//   process_open_fds                 gauge    entries of /proc/self/fd
//   process_max_fds                  gauge    RLIMIT_NOFILE (soft)
//   process_start_time_seconds       gauge    since the Unix epoch
//   zeroscale_build_info{component,version,revision}  gauge, always 1
//
// Read from /proc/self on every Collect() (a scrape), nothing on any hot path.
// Linux only; on a read error a figure is left out of that scrape rather than
// reported as 0.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace prometheus {
class Collectable;
}
namespace zs {
class FlagSet;
}

namespace zs::http {

struct BuildInfo {
  std::string component;  // "controller", "activator", ...
  std::string version;    // the project's version (CMake)
  std::string revision;   // git revision the binary was configured from
};

// The version and revision this binary was built with.
BuildInfo ThisBuild(std::string component);

std::shared_ptr<prometheus::Collectable> MakeProcessCollector(BuildInfo build);

// The start every zeroscale binary shares: parses `argv` into `flags`, then
// answers --help and --version (`version`, a flag's target) and sets up the
// logger for `component` at `log_level` (a flag's target too). Returns the
// exit code when the binary should stop there (0 after --help/--version, 2
// on a bad flag or level, the error on stderr as "zeroscale-<component>: ..."),
// nullopt to go on.
std::optional<int> StartBinary(FlagSet& flags, int argc, char** argv, const std::string& component,
                               const bool& version, const std::string& log_level);

}  // namespace zs::http
