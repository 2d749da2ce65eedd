// Running helper commands (ip, ...) and container processes.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zs::nodeagent {

// Runs argv[0] (PATH lookup) with argv, waits, returns OK on exit status 0;
// the error carries the command and its stderr. Uses posix_spawn (safe in a
// multi-threaded process) and waits for that pid only.
// `stdin_text` (small: it is written before the output is read) is fed to
// its standard input.
absl::Status RunCommand(const std::vector<std::string>& argv, std::string* stdout_text = nullptr,
                        const std::string& stdin_text = "");

struct ProcessSpec {
  std::string executable;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string working_dir = "/";
  std::string netns_path;  // /run/netns/<name>; empty: stay in the agent's netns
  std::string hostname;    // set in a new UTS namespace when not empty
  // Bind-mounted at `mount_target` in a private mount namespace when both set.
  std::string mount_source;
  std::string mount_target;
  std::string log_path;  // stdout and stderr, appended
};

// Forks and execs `spec` in its own session (so its pid is the process group
// id and the whole tree can be signalled), inside the given namespaces.
// Returns the pid. Errors in the child before exec make it exit with 127 and
// a line in the log.
absl::StatusOr<pid_t> SpawnProcess(const ProcessSpec& spec);

// kill(-pgid, sig); ESRCH is not an error.
void SignalGroup(pid_t pgid, int sig);

}  // namespace zs::nodeagent
