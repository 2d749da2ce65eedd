#include "common/kube/curl_client.h"

#include <curl/curl.h>

#include <mutex>

#include "common/kube/errors.h"
#include "common/kube/line_splitter.h"
#include "common/log.h"
#include "common/strings.h"

namespace zs::kube {
namespace {

constexpr size_t kMaxPooledHandles = 8;
// How often a blocked watch looks at its Cancellation.
constexpr int kWatchPollMillis = 100;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string UrlEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Builds "?a=b&c=d" from the non-empty pairs.
class Query {
 public:
  void Add(std::string_view key, std::string_view value) {
    if (value.empty()) return;
    text_ += text_.empty() ? "?" : "&";
    text_ += UrlEncode(key);
    text_ += "=";
    text_ += UrlEncode(value);
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

void AddWriteOptions(Query& query, const WriteOptions& options) {
  query.Add("fieldManager", options.field_manager);
  if (options.dry_run) query.Add("dryRun", "All");
}

size_t AppendToString(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

const char* PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

// A curl timeout in milliseconds; at least 1, since 0 means "no timeout".
long CurlMillis(Duration d) {
  return static_cast<long>(std::max<int64_t>(1, std::chrono::ceil<std::chrono::milliseconds>(d).count()));
}

absl::StatusOr<nlohmann::json> ParseBody(const std::string& body) {
  if (body.empty()) return nlohmann::json::object();
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return absl::InternalError("kube: response is not JSON");
  return parsed;
}

}  // namespace

struct CurlKubeClient::Handle {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body_copy;  // request body must outlive the transfer
  ~Handle() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

struct CurlKubeClient::Pool {
  std::mutex mu;
  std::vector<std::unique_ptr<Handle>> handles;
};

struct CurlKubeClient::Response {
  long code = 0;
  std::string body;
};

absl::StatusOr<std::unique_ptr<CurlKubeClient>> CurlKubeClient::Create(KubeConfig config,
                                                                       CurlOptions options) {
  if (config.server.empty()) return absl::InvalidArgumentError("kube: config has no server");
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError(Cat("kube: server \"", config.server, "\" is not an http(s) URL"));
  }
  GlobalInit();
  return std::unique_ptr<CurlKubeClient>(
      new CurlKubeClient(std::move(config), std::move(options), std::make_shared<Pool>()));
}

CurlKubeClient::CurlKubeClient(KubeConfig config, CurlOptions options, std::shared_ptr<Pool> pool)
    : config_(std::move(config)), options_(std::move(options)), pool_(std::move(pool)) {}

std::unique_ptr<KubeClient> CurlKubeClient::WithTimeout(Duration timeout) {
  CurlOptions bounded = options_;
  bounded.request_timeout = std::min(options_.request_timeout, timeout);
  bounded.connect_timeout = std::min(options_.connect_timeout, bounded.request_timeout);
  return std::unique_ptr<CurlKubeClient>(new CurlKubeClient(config_, std::move(bounded), pool_));
}

CurlKubeClient::~CurlKubeClient() = default;

std::unique_ptr<CurlKubeClient::Handle> CurlKubeClient::Acquire() {
  {
    std::lock_guard lock(pool_->mu);
    if (!pool_->handles.empty()) {
      std::unique_ptr<Handle> handle = std::move(pool_->handles.back());
      pool_->handles.pop_back();
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  handle->easy = curl_easy_init();
  return handle;
}

void CurlKubeClient::Release(std::unique_ptr<Handle> handle) {
  if (handle->headers != nullptr) {
    curl_slist_free_all(handle->headers);
    handle->headers = nullptr;
  }
  std::lock_guard lock(pool_->mu);
  if (pool_->handles.size() < kMaxPooledHandles) pool_->handles.push_back(std::move(handle));
}

absl::Status CurlKubeClient::Configure(Handle& handle, const std::string& method, const std::string& url,
                                       const std::string& content_type, const std::string* body,
                                       bool streaming, Duration timeout) {
  CURL* easy = handle.easy;
  if (easy == nullptr) return TransportError("curl_easy_init failed");
  // Reset keeps the connection cache and TLS session cache of the handle.
  curl_easy_reset(easy);
  if (handle.headers != nullptr) {
    curl_slist_free_all(handle.headers);
    handle.headers = nullptr;
  }
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(
      easy, CURLOPT_CONNECTTIMEOUT_MS,
      CurlMillis(streaming ? options_.connect_timeout : std::min(options_.connect_timeout, timeout)));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
  if (!streaming) curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, CurlMillis(timeout));

  // TLS.
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!config_.ca_pem.empty()) {
    curl_blob blob{const_cast<char*>(config_.ca_pem.data()), config_.ca_pem.size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
  } else if (!config_.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, config_.ca_file.c_str());
  }
  if (!config_.client_cert_pem.empty()) {
    curl_blob blob{const_cast<char*>(config_.client_cert_pem.data()), config_.client_cert_pem.size(),
                   CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &blob);
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!config_.client_cert_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
  }
  if (!config_.client_key_pem.empty()) {
    curl_blob blob{const_cast<char*>(config_.client_key_pem.data()), config_.client_key_pem.size(),
                   CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &blob);
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!config_.client_key_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLKEY, config_.client_key_file.c_str());
  }

  // Headers.
  handle.headers = curl_slist_append(handle.headers, "Accept: application/json");
  // No "Expect: 100-continue" round trip for large bodies.
  handle.headers = curl_slist_append(handle.headers, "Expect:");
  if (!content_type.empty()) {
    handle.headers = curl_slist_append(handle.headers, ("Content-Type: " + content_type).c_str());
  }
  std::string token = config_.token;
  if (token.empty() && config_.token_file) {
    absl::StatusOr<std::string> file_token = config_.token_file->Token();
    if (!file_token.ok())
      return absl::UnauthenticatedError(Cat("kube: token: ", file_token.status().message()));
    token = *file_token;
  }
  if (!token.empty()) {
    handle.headers = curl_slist_append(handle.headers, ("Authorization: Bearer " + token).c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, handle.headers);

  // Method and body.
  if (method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (body != nullptr) {
    handle.body_copy = *body;
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, handle.body_copy.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(handle.body_copy.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<CurlKubeClient::Response> CurlKubeClient::Perform(const std::string& method,
                                                                 const std::string& path_and_query,
                                                                 const std::string& content_type,
                                                                 const std::string& body) {
  const std::string url = config_.server + path_and_query;
  const bool has_body = method != "GET" && (method != "DELETE" || !body.empty());
  // request_timeout bounds the call as a whole, the retry after a 401 included.
  Clock& clock = RealClock::Get();
  const MonotonicTime deadline = clock.Now() + options_.request_timeout;
  for (int attempt = 0;; ++attempt) {
    const Duration left = deadline - clock.Now();
    if (left <= Duration::zero()) {
      return TransportError(Cat(method, " ", path_and_query, ": timed out before the retry"));
    }
    std::unique_ptr<Handle> handle = Acquire();
    absl::Status configured =
        Configure(*handle, method, url, content_type, has_body ? &body : nullptr, false, left);
    if (!configured.ok()) return configured;
    Response response;
    curl_easy_setopt(handle->easy, CURLOPT_WRITEFUNCTION, &AppendToString);
    curl_easy_setopt(handle->easy, CURLOPT_WRITEDATA, &response.body);
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(handle->easy, CURLOPT_ERRORBUFFER, error);
    CURLcode rc = curl_easy_perform(handle->easy);
    curl_easy_getinfo(handle->easy, CURLINFO_RESPONSE_CODE, &response.code);
    curl_easy_setopt(handle->easy, CURLOPT_ERRORBUFFER, nullptr);
    Release(std::move(handle));
    if (rc != CURLE_OK) {
      return TransportError(
          Cat(method, " ", path_and_query, ": ", error[0] != '\0' ? error : curl_easy_strerror(rc)));
    }
    // A rotated service-account token: re-read it and try once more.
    if (response.code == 401 && attempt == 0 && config_.token_file) {
      config_.token_file->Invalidate();
      continue;
    }
    return response;
  }
}

absl::StatusOr<nlohmann::json> CurlKubeClient::Do(const std::string& method,
                                                  const std::string& path_and_query,
                                                  const std::string& content_type, const std::string& body) {
  absl::StatusOr<Response> response = Perform(method, path_and_query, content_type, body);
  if (!response.ok()) return response.status();
  if (response->code < 200 || response->code >= 300) return StatusFromHttp(response->code, response->body);
  return ParseBody(response->body);
}

absl::StatusOr<std::string> CurlKubeClient::RawRequest(const std::string& method,
                                                       const std::string& path_and_query,
                                                       const std::string& content_type,
                                                       const std::string& body) {
  absl::StatusOr<Response> response = Perform(method, path_and_query, content_type, body);
  if (!response.ok()) return response.status();
  if (response->code < 200 || response->code >= 300) return StatusFromHttp(response->code, response->body);
  return std::move(response->body);
}

absl::StatusOr<nlohmann::json> CurlKubeClient::Get(const ResourceRef& ref) {
  return Do("GET", ref.Path(), "", "");
}

absl::StatusOr<nlohmann::json> CurlKubeClient::List(const ResourceRef& collection,
                                                    const ListOptions& options) {
  Query query;
  query.Add("labelSelector", options.label_selector);
  query.Add("fieldSelector", options.field_selector);
  query.Add("resourceVersion", options.resource_version);
  if (options.limit > 0) query.Add("limit", std::to_string(options.limit));
  query.Add("continue", options.continue_token);
  return Do("GET", collection.Collection().Path() + query.str(), "", "");
}

absl::StatusOr<nlohmann::json> CurlKubeClient::Create(const ResourceRef& ref, const nlohmann::json& object,
                                                      const WriteOptions& options) {
  Query query;
  AddWriteOptions(query, options);
  return Do("POST", ref.Path() + query.str(), "application/json", object.dump());
}

absl::StatusOr<nlohmann::json> CurlKubeClient::Update(const ResourceRef& ref, const nlohmann::json& object,
                                                      const WriteOptions& options) {
  Query query;
  AddWriteOptions(query, options);
  return Do("PUT", ref.Path() + query.str(), "application/json", object.dump());
}

absl::StatusOr<nlohmann::json> CurlKubeClient::Patch(const ResourceRef& ref, PatchType type,
                                                     const nlohmann::json& patch,
                                                     const WriteOptions& options) {
  Query query;
  AddWriteOptions(query, options);
  return Do("PATCH", ref.Path() + query.str(), PatchContentType(type), patch.dump());
}

absl::StatusOr<nlohmann::json> CurlKubeClient::Apply(const ResourceRef& ref, const nlohmann::json& object,
                                                     const ApplyOptions& options) {
  if (options.field_manager.empty())
    return absl::InvalidArgumentError("kube: server-side apply needs a fieldManager");
  Query query;
  query.Add("fieldManager", options.field_manager);
  if (options.force) query.Add("force", "true");
  if (options.dry_run) query.Add("dryRun", "All");
  // JSON is YAML, so the object goes as is.
  return Do("PATCH", ref.Path() + query.str(), "application/apply-patch+yaml", object.dump());
}

absl::StatusOr<nlohmann::json> CurlKubeClient::Delete(const ResourceRef& ref, const DeleteOptions& options) {
  nlohmann::json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
  if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
  if (!options.precondition_uid.empty()) body["preconditions"]["uid"] = options.precondition_uid;
  if (!options.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = options.precondition_resource_version;
  }
  return Do("DELETE", ref.Path(), "application/json", body.dump());
}

namespace {

// State of one watch stream, shared with curl's write callback.
struct WatchStream {
  CURL* easy = nullptr;
  const WatchHandler* handler = nullptr;
  LineSplitter splitter;
  long code = 0;
  std::string error_body;  // non-200 answers
  bool stopped_by_handler = false;
  int malformed = 0;
  std::string what;  // for logs

  explicit WatchStream(size_t max_line) : splitter(max_line) {}

  bool Deliver(std::vector<absl::StatusOr<WatchEvent>> events) {
    for (auto& event : events) {
      if (!event.ok()) {
        ++malformed;
        log::Warn("kube watch: skipped a malformed event",
                  {{"watch", what}, {"error", std::string(event.status().message())}});
        continue;
      }
      if (!(*handler)(*event)) {
        stopped_by_handler = true;
        return false;
      }
    }
    return true;
  }
};

size_t WatchWrite(char* data, size_t size, size_t count, void* user) {
  auto* stream = static_cast<WatchStream*>(user);
  const size_t n = size * count;
  if (stream->code == 0) curl_easy_getinfo(stream->easy, CURLINFO_RESPONSE_CODE, &stream->code);
  if (stream->code != 200) {
    if (stream->error_body.size() < size_t{64} * 1024) stream->error_body.append(data, n);
    return n;
  }
  // Returning less than n aborts the transfer (CURLE_WRITE_ERROR).
  if (!stream->Deliver(stream->splitter.Feed(std::string_view(data, n)))) return 0;
  return n;
}

}  // namespace

absl::Status CurlKubeClient::Watch(const ResourceRef& collection, const WatchOptions& options,
                                   const WatchHandler& handler) {
  Query query;
  query.Add("watch", "1");
  query.Add("labelSelector", options.label_selector);
  query.Add("fieldSelector", options.field_selector);
  query.Add("resourceVersion", options.resource_version);
  if (options.allow_bookmarks) query.Add("allowWatchBookmarks", "true");
  if (options.timeout_seconds > 0) query.Add("timeoutSeconds", std::to_string(options.timeout_seconds));
  const std::string path = collection.Collection().Path() + query.str();
  const std::string url = config_.server + path;

  for (int attempt = 0;; ++attempt) {
    Handle handle;
    handle.easy = curl_easy_init();
    absl::Status configured =
        Configure(handle, "GET", url, "", nullptr, /*streaming=*/true, options_.request_timeout);
    if (!configured.ok()) return configured;
    if (options.timeout_seconds > 0) {
      // Safety net should the server not end the stream when it said it would.
      curl_easy_setopt(handle.easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>((options.timeout_seconds + 30) * 1000));
    }
    WatchStream stream(options_.max_watch_line_bytes);
    stream.easy = handle.easy;
    stream.handler = &handler;
    stream.what = collection.Collection().Path();
    curl_easy_setopt(handle.easy, CURLOPT_WRITEFUNCTION, &WatchWrite);
    curl_easy_setopt(handle.easy, CURLOPT_WRITEDATA, &stream);
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(handle.easy, CURLOPT_ERRORBUFFER, error);

    // A multi handle lets the loop wake up to look at the Cancellation.
    CURLM* multi = curl_multi_init();
    curl_multi_add_handle(multi, handle.easy);
    bool cancelled = false;
    CURLcode result = CURLE_OK;
    for (;;) {
      int running = 0;
      CURLMcode mc = curl_multi_perform(multi, &running);
      if (mc != CURLM_OK) {
        result = CURLE_RECV_ERROR;
        break;
      }
      if (running == 0) {
        int queued = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
          if (msg->msg == CURLMSG_DONE) result = msg->data.result;
        }
        break;
      }
      if (options.cancel != nullptr && options.cancel->cancelled()) {
        cancelled = true;
        break;
      }
      curl_multi_poll(multi, nullptr, 0, kWatchPollMillis, nullptr);
    }
    curl_multi_remove_handle(multi, handle.easy);
    curl_multi_cleanup(multi);
    if (stream.code == 0) curl_easy_getinfo(handle.easy, CURLINFO_RESPONSE_CODE, &stream.code);

    if (cancelled || stream.stopped_by_handler) return absl::OkStatus();
    if (stream.code == 401 && attempt == 0 && config_.token_file) {
      config_.token_file->Invalidate();
      continue;
    }
    if (stream.code != 0 && stream.code != 200) return StatusFromHttp(stream.code, stream.error_body);
    if (result != CURLE_OK && result != CURLE_OPERATION_TIMEDOUT) {
      return TransportError(Cat("watch ", path, ": ", error[0] != '\0' ? error : curl_easy_strerror(result)));
    }
    stream.Deliver(stream.splitter.Finish());
    return absl::OkStatus();
  }
}

}  // namespace zs::kube
