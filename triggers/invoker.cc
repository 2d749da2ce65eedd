#include "triggers/invoker.h"

#include <atomic>

#include <curl/curl.h>

#include "common/strings.h"

namespace zs::triggers {
namespace {

class CancelFlag final : public InvocationHandle {
 public:
  void Cancel() override { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  void MarkDone() { done_.store(true); }
  bool done() const { return done_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> done_{false};
};

size_t Discard(char* /*data*/, size_t size, size_t count, void* /*user*/) { return size * count; }

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<CancelFlag*>(user)->cancelled() ? 1 : 0;
}

InvocationResult Perform(const Invocation& inv, CancelFlag& flag) {
  InvocationResult result;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    result.error = "curl_easy_init failed";
    return result;
  }
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : inv.headers)
    headers = curl_slist_append(headers, Cat(name, ": ", value).c_str());
  // No "Expect: 100-continue" round trip for bodies.
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, inv.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, inv.method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (!inv.body.empty() || inv.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, inv.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(inv.body.size()));
  }
  if (inv.method == "GET") curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(inv.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &Progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &flag);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    result.status = static_cast<int>(status);
  } else {
    result.cancelled = code == CURLE_ABORTED_BY_CALLBACK;
    result.error = curl_easy_strerror(code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

}  // namespace

CurlInvoker::~CurlInvoker() {
  std::list<std::pair<std::shared_ptr<InvocationHandle>, std::thread>> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (auto& [handle, thread] : threads) {
    handle->Cancel();
    thread.join();
  }
}

std::shared_ptr<InvocationHandle> CurlInvoker::Start(Invocation invocation, Done done) {
  auto flag = std::make_shared<CancelFlag>();
  std::lock_guard lock(mu_);
  // Join the threads that finished since the last start.
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (static_cast<CancelFlag*>(it->first.get())->done()) {
      it->second.join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  threads_.emplace_back(flag, std::thread([flag, invocation = std::move(invocation), done = std::move(done)] {
                          const InvocationResult result = Perform(invocation, *flag);
                          done(result);
                          flag->MarkDone();
                        }));
  return flag;
}

}  // namespace zs::triggers
