// fn-echo: parses flags and environment, wires the server and signals.
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>

#include "common/flags.h"
#include "common/log.h"
#include "hack/fn-echo/server.h"

namespace {

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  long long parsed = std::strtoll(value, &end, 10);
  return (end != nullptr && *end == '\0') ? parsed : fallback;
}

std::string EnvString(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? value : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  // Environment first (what a Function's container gets), flags override.
  int64_t port = EnvInt("PORT", 8080);
  int64_t threads = EnvInt("THREADS", 2);
  int64_t startup_delay_ms = EnvInt("STARTUP_DELAY_MS", 0);
  int64_t keepalive_timeout_ms = EnvInt("KEEPALIVE_TIMEOUT_MS", 120'000);
  bool announce_keepalive = EnvInt("ANNOUNCE_KEEPALIVE", 0) != 0;
  std::string address = EnvString("ADDRESS", "0.0.0.0");
  std::string pod = EnvString("POD_NAME", "");
  if (pod.empty()) pod = EnvString("HOSTNAME", "");

  zs::FlagSet flags("fn-echo",
                    "Example zeroscale function: echoes requests as JSON (see hack/fn-echo/README.md).");
  flags.String("address", &address, "address to listen on (env ADDRESS)");
  flags.Int("port", &port, "port to listen on, 0 = any free port (env PORT)");
  flags.Int("threads", &threads, "worker threads (env THREADS)");
  flags.Int("startup-delay-ms", &startup_delay_ms,
            "wait this long before listening, to mimic a slow cold start (env STARTUP_DELAY_MS)");
  flags.String("pod", &pod, "name reported as \"pod\" (env POD_NAME or HOSTNAME)");
  flags.Int("keepalive-timeout-ms", &keepalive_timeout_ms,
            "close keep-alive connections idle this long (env KEEPALIVE_TIMEOUT_MS; Node.js uses 5000)");
  flags.Bool("announce-keepalive", &announce_keepalive,
             "send Keep-Alive: timeout=N with responses, as Node.js does (env ANNOUNCE_KEEPALIVE=1)");
  auto outcome = flags.Parse(argc, argv);
  if (!outcome.ok()) {
    std::cerr << "fn-echo: " << outcome.status().message() << "\n";
    return 2;
  }
  if (*outcome == zs::FlagSet::Outcome::kHelp) {
    std::cout << flags.Usage();
    return 0;
  }
  zs::log::SetLogger("fn-echo");

  // Signals are taken synchronously by this thread; the worker threads
  // inherit the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (startup_delay_ms > 0) {
    timespec wait{static_cast<time_t>(startup_delay_ms / 1000),
                  static_cast<long>(startup_delay_ms % 1000) * 1'000'000};
    int sig;
    while ((sig = sigtimedwait(&signals, nullptr, &wait)) < 0 && errno == EINTR) {
    }
    if (sig > 0) return 0;  // told to stop before we ever listened
  }

  zs::fnecho::Server server({.address = address,
                             .port = static_cast<int>(port),
                             .threads = static_cast<int>(threads),
                             .pod = pod,
                             .keepalive_timeout = std::chrono::milliseconds(keepalive_timeout_ms),
                             .announce_keepalive = announce_keepalive});
  if (auto status = server.Start(); !status.ok()) {
    zs::log::Error("cannot listen", {{"error", std::string(status.message())}});
    return 1;
  }
  zs::log::Info("listening", {{"address", address},
                              {"port", server.port()},
                              {"threads", threads},
                              {"startup_delay_ms", startup_delay_ms},
                              {"pod", pod}});
  int sig = 0;
  sigwait(&signals, &sig);
  server.Shutdown();
  server.Wait();
  return 0;
}
