// Real brokers for tests: starts nats-server or redis-server (Debian's
// packages) as a child process on a free loopback port, in a scratch
// directory, and stops it. Header-only; tests only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace zs::triggers::testing {

// Debian installs nats-server in /usr/sbin, which a non-login PATH may lack.
inline const char* const kNatsServer =
    access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server" : "nats-server";

// A port nobody listens on now (bound to 0, read, closed).
inline int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return ok ? ntohs(addr.sin_port) : 0;
}

// Whether 127.0.0.1:port accepts a connection.
inline bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// A child process; killed (SIGKILL) and reaped by the destructor.
class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(const std::vector<std::string>& argv) { Start(argv); }
  ~ChildProcess() { Kill(SIGKILL); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool Start(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    return posix_spawnp(&pid_, args[0], nullptr, nullptr, args.data(), environ) == 0;
  }
  // Sends `signal` and reaps the process. Harmless when not running.
  void Kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // Whether it has not exited yet (reaps it if it has).
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == 0) return true;
    pid_ = -1;
    return false;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A scratch directory removed by the destructor.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "zs-broker-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A broker server on 127.0.0.1:port() with its data in a scratch directory
// that outlives Stop()/Start(), so a restart keeps the streams (JetStream's
// file store; Redis's AOF).
class BrokerServer {
 public:
  enum class Kind { kNats, kRedis };
  // `password`: Redis requirepass / NATS --pass for user "zs" (empty: none).
  explicit BrokerServer(Kind kind, std::string password = "")
      : kind_(kind), password_(std::move(password)), port_(FreeLoopbackPort()) {}

  // Starts the server and waits up to 10 s for it to accept connections
  // (false at once if it exits: see its log in dir()).
  bool Start() {
    std::vector<std::string> argv;
    const std::string port = std::to_string(port_);
    if (kind_ == Kind::kNats) {
      argv = {kNatsServer, "-a",  "127.0.0.1", "-p", port,
              "-js",       "-sd", dir_.path(), "-l", dir_.path() + "/nats.log"};
      if (!password_.empty()) argv.insert(argv.end(), {"--user", "zs", "--pass", password_});
    } else {
      argv = {"redis-server", "--bind",        "127.0.0.1", "--port",    port,
              "--dir",        dir_.path(),     "--save",    "",          "--appendonly",
              "yes",          "--appendfsync", "always",    "--logfile", dir_.path() + "/redis.log"};
      if (!password_.empty()) argv.insert(argv.end(), {"--requirepass", password_});
    }
    if (!process_.Start(argv)) return false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Accepts(port_)) return true;
      if (!process_.Running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // SIGKILL by default: a crash, not a shutdown.
  void Stop(int signal = SIGKILL) { process_.Kill(signal); }
  // Sends `signal` and leaves the process be (SIGSTOP: a server that hangs).
  void Signal(int signal) {
    if (process_.pid() > 0) ::kill(process_.pid(), signal);
  }

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string nats_url() const {
    return password_.empty() ? "nats://" + address() : "nats://zs:" + password_ + "@" + address();
  }
  const std::string& dir() const { return dir_.path(); }

 private:
  Kind kind_;
  std::string password_;
  int port_;
  ScratchDir dir_;
  ChildProcess process_;
};

}  // namespace zs::triggers::testing
