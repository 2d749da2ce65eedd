#include "activator/sources/prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace zs::activator {

bool TcpAccepts(const Endpoint& endpoint, Duration timeout) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
      inet_pton(AF_INET, endpoint.ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(endpoint.port);
    length = sizeof(sockaddr_in);
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
             inet_pton(AF_INET6, endpoint.ip.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(endpoint.port);
    length = sizeof(sockaddr_in6);
  } else {
    return false;
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool accepted = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0) {
    accepted = true;
  } else if (errno == EINPROGRESS) {
    pollfd waiting{fd, POLLOUT, 0};
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    if (::poll(&waiting, 1, static_cast<int>(millis)) == 1) {
      int error = 0;
      socklen_t error_length = sizeof(error);
      accepted = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_length) == 0 && error == 0;
    }
  }
  ::close(fd);
  return accepted;
}

namespace {

// CPU time this thread has used.
Duration ThreadCpuTime() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

}  // namespace

StartingProber::StartingProber(Options options, Clock& clock, OnReady on_ready)
    : options_(options), clock_(clock), on_ready_(std::move(on_ready)) {}

StartingProber::~StartingProber() { Stop(); }

void StartingProber::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void StartingProber::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StartingProber::Watch(const FunctionKey& key, const std::vector<Endpoint>& addresses) {
  {
    std::lock_guard lock(mu_);
    if (addresses.empty()) {
      targets_.erase(key);
      return;
    }
    const MonotonicTime now = clock_.Now();
    std::map<std::string, Target>& old = targets_[key];
    std::map<std::string, Target> fresh;
    for (const Endpoint& endpoint : addresses) {
      const std::string address = endpoint.Address();
      auto it = old.find(address);
      if (it == old.end()) added_ = true;
      fresh.emplace(address, it != old.end() ? it->second : Target{endpoint, now});
    }
    old = std::move(fresh);
  }
  work_.notify_all();
}

size_t StartingProber::probing() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, targets] : targets_) n += targets.size();
  return n;
}

void StartingProber::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    work_.wait(lock, [this] { return stopping_ || !targets_.empty(); });
    if (stopping_) return;
    // Probe a copy without the lock; Watch may change the set meanwhile.
    std::vector<std::pair<FunctionKey, Target>> round;
    const MonotonicTime now = clock_.Now();
    for (auto fn = targets_.begin(); fn != targets_.end();) {
      for (auto it = fn->second.begin(); it != fn->second.end();) {
        if (now - it->second.since > options_.give_up) {
          it = fn->second.erase(it);
        } else {
          round.emplace_back(fn->first, it->second);
          ++it;
        }
      }
      fn = fn->second.empty() ? targets_.erase(fn) : std::next(fn);
    }
    added_ = false;
    lock.unlock();
    const Duration cpu_start = ThreadCpuTime();
    std::vector<std::pair<FunctionKey, Endpoint>> accepted;
    for (const auto& [key, target] : round) {
      if (TcpAccepts(target.endpoint, options_.connect_timeout)) accepted.emplace_back(key, target.endpoint);
    }
    // Many starting replicas make a round that costs CPU: pausing four times
    // that keeps probing under a fifth of a core. Time spent waiting on a
    // connect that times out costs nothing and does not lengthen the pause.
    const Duration pause = std::max<Duration>(options_.interval, 4 * (ThreadCpuTime() - cpu_start));
    rounds_.fetch_add(1);
    lock.lock();
    for (const auto& [key, endpoint] : accepted) {
      // Still wanted? (The slice may have dropped it, or marked it ready.)
      auto fn = targets_.find(key);
      if (fn == targets_.end() || fn->second.erase(endpoint.Address()) == 0) continue;
      if (fn->second.empty()) targets_.erase(fn);
      lock.unlock();
      log::Debug("starting replica accepts connections",
                 {{"function", key.String()}, {"address", endpoint.Address()}});
      on_ready_(key, endpoint);
      lock.lock();
    }
    // A new address does not wait out the pause.
    if (!targets_.empty()) work_.wait_for(lock, pause, [this] { return stopping_ || added_; });
  }
}

}  // namespace zs::activator
