#include "hack/node-agent/exec.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/strings.h"

extern char** environ;

namespace zs::nodeagent {
namespace {

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  return out;
}

// Writes a message from the forked child (no allocation, no stdio).
void ChildFail(int log_fd, const char* what) {
  const char* err = ::strerror(errno);
  if (log_fd >= 0) {
    (void)!::write(log_fd, "zs-node-agent: ", 15);
    (void)!::write(log_fd, what, ::strlen(what));
    (void)!::write(log_fd, ": ", 2);
    (void)!::write(log_fd, err, ::strlen(err));
    (void)!::write(log_fd, "\n", 1);
  }
  ::_exit(127);
}

}  // namespace

absl::Status RunCommand(const std::vector<std::string>& argv, std::string* stdout_text,
                        const std::string& stdin_text) {
  int out_pipe[2];
  int err_pipe[2];
  int in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return absl::InternalError("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  std::vector<char*> args = CStrings(argv);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  if (rc == 0 && !stdin_text.empty()) {
    // Fits the pipe buffer (a few short lines), so this never blocks on the child.
    (void)!::write(in_pipe[1], stdin_text.data(), stdin_text.size());
  }
  ::close(in_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return absl::InternalError(Cat("cannot run ", argv[0], ": ", std::strerror(rc)));
  }
  // Outputs are small; read stdout fully, then stderr.
  std::string out = ReadAll(out_pipe[0]);
  std::string err = ReadAll(err_pipe[0]);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (stdout_text != nullptr) *stdout_text = std::move(out);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  std::string command;
  for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
  while (!err.empty() && err.back() == '\n') err.pop_back();
  return absl::InternalError(Cat("`", command, "` failed (status ", status, "): ", err));
}

absl::StatusOr<pid_t> SpawnProcess(const ProcessSpec& spec) {
  int log_fd = ::open(spec.log_path.empty() ? "/dev/null" : spec.log_path.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return absl::InternalError(Cat("cannot open log ", spec.log_path, ": ", std::strerror(errno)));
  int netns_fd = -1;
  if (!spec.netns_path.empty()) {
    netns_fd = ::open(spec.netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      ::close(log_fd);
      return absl::InternalError(Cat("cannot open netns ", spec.netns_path, ": ", std::strerror(errno)));
    }
  }
  // Everything the child needs is prepared before fork: after fork in a
  // multi-threaded process only async-signal-safe calls are allowed.
  std::vector<char*> argv = CStrings(spec.argv);
  std::vector<char*> envp = CStrings(spec.env);
  const bool do_mount = !spec.mount_source.empty() && !spec.mount_target.empty();
  const bool do_uts = !spec.hostname.empty();

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    if (netns_fd >= 0) ::close(netns_fd);
    return absl::InternalError(Cat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (::setsid() < 0) ChildFail(log_fd, "setsid");
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) ChildFail(log_fd, "setns(net)");
    int flags = (do_mount ? CLONE_NEWNS : 0) | (do_uts ? CLONE_NEWUTS : 0);
    if (flags != 0 && ::unshare(flags) != 0) ChildFail(log_fd, "unshare");
    if (do_uts && ::sethostname(spec.hostname.c_str(), spec.hostname.size()) != 0)
      ChildFail(log_fd, "sethostname");
    if (do_mount) {
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        ChildFail(log_fd, "mount private");
      if (::mount(spec.mount_source.c_str(), spec.mount_target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        ChildFail(log_fd, "bind-mount service account");
      }
    }
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (::chdir(spec.working_dir.c_str()) != 0) ChildFail(2, "chdir");
    ::execve(spec.executable.c_str(), argv.data(), envp.data());
    ChildFail(2, "execve");
  }
  ::close(log_fd);
  if (netns_fd >= 0) ::close(netns_fd);
  return pid;
}

void SignalGroup(pid_t pgid, int sig) {
  if (pgid > 0) ::kill(-pgid, sig);
}

}  // namespace zs::nodeagent
