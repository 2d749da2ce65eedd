// CurlKubeClient: KubeClient over libcurl.
//
// One curl easy handle per request thread is reused from a small pool
// (keeps TLS sessions and connections alive); a Watch holds its own handle
// for the stream's lifetime and is driven by a curl multi handle so that a
// Cancellation ends it within ~100 ms. HTTP/1.1 (HTTP/2 would multiplex
// watches on one connection, but the apiserver's per-connection stream limit
// and libcurl's HTTP/2 stall handling make one connection per watch the
// simpler, predictable choice).
//
// Auth: client certificate and/or bearer token from KubeConfig. With a token
// file, a 401 makes the client re-read the token and retry the request once.
// Certificate files (CA, client certificate and key) are checked before every
// request: when one changed, pooled connections are dropped and the next
// request handshakes with the new files. A bearer token is never sent over
// plain http except to a loopback address (Create refuses such a config).
//
// Retry-After (client-go's rule): a 429, or a 5xx that carries Retry-After,
// is sent again after the wait it names, up to 10 times, while the wait ends
// before the request timeout; otherwise the answer is returned at once.
//
// Lifecycle: construct with a KubeConfig; curl_global_init is done once per
// process on first construction. WithTimeout() views share the handle pool. Thread-safety: all methods
// concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/kube/client.h"
#include "common/kube/config.h"

namespace zs::kube {

struct CurlOptions {
  // Connect timeout for every request.
  Duration connect_timeout = std::chrono::seconds(5);
  // Whole-request timeout for non-watch requests.
  Duration request_timeout = std::chrono::seconds(30);
  // Sent as User-Agent.
  std::string user_agent = "zeroscale/0.1";
  // A watch line longer than this ends the stream with an error (as a
  // malformed line does), never skipped.
  size_t max_watch_line_bytes = 16 << 20;
};

class CurlKubeClient final : public KubeClient {
 public:
  static absl::StatusOr<std::unique_ptr<CurlKubeClient>> Create(KubeConfig config, CurlOptions options = {});
  ~CurlKubeClient() override;

  absl::StatusOr<nlohmann::json> Get(const ResourceRef& ref) override;
  absl::StatusOr<nlohmann::json> List(const ResourceRef& collection, const ListOptions& options) override;
  absl::StatusOr<nlohmann::json> Create(const ResourceRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) override;
  absl::StatusOr<nlohmann::json> Update(const ResourceRef& ref, const nlohmann::json& object,
                                        const WriteOptions& options = {}) override;
  absl::StatusOr<nlohmann::json> Patch(const ResourceRef& ref, PatchType type, const nlohmann::json& patch,
                                       const WriteOptions& options = {}) override;
  absl::StatusOr<nlohmann::json> Apply(const ResourceRef& ref, const nlohmann::json& object,
                                       const ApplyOptions& options) override;
  absl::StatusOr<nlohmann::json> Delete(const ResourceRef& ref, const DeleteOptions& options = {}) override;
  absl::Status Watch(const ResourceRef& collection, const WatchOptions& options,
                     const WatchHandler& handler) override;
  // A view sharing this client's connections whose requests end within
  // min(timeout, request_timeout); connecting is bounded by the same.
  std::unique_ptr<KubeClient> WithTimeout(Duration timeout) override;

  // Raw request for what the verbs do not cover (e.g. GET /version, /readyz).
  // `path_and_query` starts with '/'. Returns the body; non-2xx -> error.
  absl::StatusOr<std::string> RawRequest(const std::string& method, const std::string& path_and_query,
                                         const std::string& content_type = "", const std::string& body = "");

  const KubeConfig& config() const { return config_; }

 private:
  struct Handle;
  struct Response;
  struct Pool;
  // Identity (inode, mtime, size) of the CA and client certificate files.
  std::string CertificateFilesState() const;
  CurlKubeClient(KubeConfig config, CurlOptions options, std::shared_ptr<Pool> pool);

  absl::StatusOr<nlohmann::json> Do(const std::string& method, const std::string& path_and_query,
                                    const std::string& content_type, const std::string& body);
  absl::StatusOr<Response> Perform(const std::string& method, const std::string& path_and_query,
                                   const std::string& content_type, const std::string& body);
  // `timeout` bounds a non-streaming request (connect included).
  absl::Status Configure(Handle& handle, const std::string& method, const std::string& url,
                         const std::string& content_type, const std::string* body, bool streaming,
                         Duration timeout);
  std::unique_ptr<Handle> Acquire();
  void Release(std::unique_ptr<Handle> handle);

  const KubeConfig config_;
  const CurlOptions options_;
  // Shared with the views WithTimeout() makes.
  std::shared_ptr<Pool> pool_;
};

}  // namespace zs::kube
