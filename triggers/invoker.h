// Invoker: how a trigger's request reaches its Function. The production
// implementation sends it to the activator over HTTP/1.1 (CurlInvoker), so a
// trigger takes the path of any client request: woken from zero, buffered,
// balanced, timed out, metered and billed there. Tests use a fake that
// completes invocations when told to.
//
// Thread-safety: Start() may be called from any thread; `done` runs exactly
// once, on a thread of the invoker's, never inside Start().
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace zs::triggers {

struct Invocation {
  std::string url;
  std::string method;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{0};
};

struct InvocationResult {
  int status = 0;          // HTTP status; 0 when none arrived
  std::string error;       // transport error, when status is 0
  bool cancelled = false;  // ended by Cancel() (concurrencyPolicy Replace, shutdown)
};

class InvocationHandle {
 public:
  virtual ~InvocationHandle() = default;
  // Ends the request early (closes the connection); `done` still runs, with
  // cancelled set. Harmless after the request ended.
  virtual void Cancel() = 0;
};

class Invoker {
 public:
  virtual ~Invoker() = default;
  using Done = std::function<void(const InvocationResult&)>;
  virtual std::shared_ptr<InvocationHandle> Start(Invocation invocation, Done done) = 0;
};

// One thread per invocation running a libcurl request; schedules fire rarely
// enough that a thread each is the simple choice. The destructor cancels
// what is still running and joins every thread.
class CurlInvoker final : public Invoker {
 public:
  CurlInvoker() = default;
  ~CurlInvoker() override;
  CurlInvoker(const CurlInvoker&) = delete;
  CurlInvoker& operator=(const CurlInvoker&) = delete;

  std::shared_ptr<InvocationHandle> Start(Invocation invocation, Done done) override;

 private:
  struct Running;
  std::mutex mu_;
  std::list<std::pair<std::shared_ptr<InvocationHandle>, std::thread>> threads_;
};

}  // namespace zs::triggers
