#include "hack/node-agent/prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/strings.h"

namespace zs::nodeagent {
namespace {

int PortOf(const nlohmann::json& port, const nlohmann::json& container) {
  if (port.is_number_integer()) return port.get<int>();
  if (port.is_string()) {
    const std::string name = port.get<std::string>();
    if (auto ports = container.find("ports"); ports != container.end() && ports->is_array()) {
      for (const auto& p : *ports) {
        if (p.value("name", "") == name) return p.value("containerPort", 0);
      }
    }
    return std::atoi(name.c_str());
  }
  return 0;
}

int RemainingMillis(std::chrono::steady_clock::time_point deadline) {
  // Socket timeouts are real time by nature; the probe cadence itself uses
  // the injected clock.
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

}  // namespace

ProbeSpec ParseProbe(const nlohmann::json& container, const char* field) {
  ProbeSpec spec;
  auto probe = container.find(field);
  if (probe == container.end() || !probe->is_object()) return spec;
  spec.initial_delay = std::chrono::seconds(probe->value("initialDelaySeconds", 0));
  spec.period = std::chrono::seconds(std::max(1, probe->value("periodSeconds", 10)));
  spec.timeout = std::chrono::seconds(std::max(1, probe->value("timeoutSeconds", 1)));
  spec.success_threshold = std::max(1, probe->value("successThreshold", 1));
  spec.failure_threshold = std::max(1, probe->value("failureThreshold", 3));
  if (auto http = probe->find("httpGet"); http != probe->end()) {
    spec.kind =
        http->value("scheme", "HTTP") == "HTTP" ? ProbeSpec::Kind::kHttp : ProbeSpec::Kind::kUnsupported;
    spec.port = PortOf(http->value("port", nlohmann::json()), container);
    spec.path = http->value("path", "/");
    if (spec.path.empty() || spec.path[0] != '/') spec.path = "/" + spec.path;
    spec.host_header = http->value("host", "");
    if (auto headers = http->find("httpHeaders"); headers != http->end() && headers->is_array()) {
      for (const auto& h : *headers) spec.headers.emplace_back(h.value("name", ""), h.value("value", ""));
    }
  } else if (auto tcp = probe->find("tcpSocket"); tcp != probe->end()) {
    spec.kind = ProbeSpec::Kind::kTcp;
    spec.port = PortOf(tcp->value("port", nlohmann::json()), container);
  } else {
    spec.kind = ProbeSpec::Kind::kUnsupported;
  }
  return spec;
}

bool RunProbe(const ProbeSpec& spec, const std::string& ip) {
  if (spec.port <= 0 || spec.port > 65535) return false;
  const auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(spec.port));
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) return false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return false;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, RemainingMillis(deadline)) != 1) return false;
    int error = 0;
    socklen_t len = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) return false;
  }
  if (spec.kind == ProbeSpec::Kind::kTcp) return true;

  std::string request =
      Cat("GET ", spec.path,
          " HTTP/1.1\r\nHost: ", spec.host_header.empty() ? Cat(ip, ":", spec.port) : spec.host_header,
          "\r\nUser-Agent: kube-probe/zs-node-agent\r\nAccept: */*\r\nConnection: close\r\n");
  for (const auto& [name, value] : spec.headers) request += Cat(name, ": ", value, "\r\n");
  request += "\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, RemainingMillis(deadline)) != 1) return false;
  }
  std::string response;
  while (response.find("\r\n") == std::string::npos && response.size() < 4096) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, RemainingMillis(deadline)) != 1) return false;
    char buffer[1024];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      break;
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  size_t space = response.find(' ');
  if (response.rfind("HTTP/", 0) != 0 || space == std::string::npos) return false;
  int code = std::atoi(response.c_str() + space + 1);
  return code >= 200 && code < 400;
}

}  // namespace zs::nodeagent
