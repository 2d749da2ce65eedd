#include "common/kube/curl_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <string_view>

#include "common/kube/errors.h"
#include "common/kube/line_splitter.h"
#include "common/log.h"
#include "common/strings.h"

namespace zs::kube {
namespace {

constexpr size_t kMaxPooledHandles = 8;
// client-go's maxRetries for Retry-After answers.
constexpr int kMaxRetryAfterWaits = 10;
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

// Retry-After as delta-seconds (what the apiserver sends); an HTTP date is
// treated as "soon" (1 s).
size_t ReadRetryAfter(char* data, size_t size, size_t count, void* user) {
  const std::string_view line(data, size * count);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() && std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      })) {
    std::string_view value = line.substr(kName.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    int64_t seconds = 0;
    size_t digits = 0;
    while (digits < value.size() && digits < 6 && std::isdigit(static_cast<unsigned char>(value[digits]))) {
      seconds = seconds * 10 + (value[digits] - '0');
      ++digits;
    }
    *static_cast<std::optional<Duration>*>(user) =
        digits > 0 ? Duration(std::chrono::seconds(seconds)) : Duration(std::chrono::seconds(1));
  }
  return size * count;
}

// Plain http is for a loopback apiserver only when a token is involved: a
// bearer token never crosses a network in clear text.
bool IsLoopbackHttp(const std::string& server) {
  constexpr std::string_view kScheme = "http://";
  if (server.rfind(kScheme, 0) != 0) return false;
  std::string_view host = std::string_view(server).substr(kScheme.size());
  host = host.substr(0, host.find('/'));
  if (!host.empty() && host.front() == '[') {
    host = host.substr(
        1, host.find(']') == std::string_view::npos ? std::string_view::npos : host.find(']') - 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (host == "localhost") return true;
  const std::string literal(host);
  in_addr v4{};
  if (inet_pton(AF_INET, literal.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, literal.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
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
  std::string files;  // Pool::files when this handle was made
  curl_slist* headers = nullptr;
  std::string body_copy;  // request body must outlive the transfer
  ~Handle() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

// Idle handles, each with its own connection cache. `files` is the state of
// the kubeconfig's certificate files when the pooled handles were made: when
// a file changes (cert-manager or a kubelet rotated it), every pooled handle
// and its open connections are dropped, so the next request makes a new TLS
// connection with the new files; handles in use are dropped on release.
struct CurlKubeClient::Pool {
  std::mutex mu;
  std::vector<std::unique_ptr<Handle>> handles;
  std::string files;
};

struct CurlKubeClient::Response {
  long code = 0;
  std::string body;
  std::optional<Duration> retry_after;  // the Retry-After header, in seconds
};

absl::StatusOr<std::unique_ptr<CurlKubeClient>> CurlKubeClient::Create(KubeConfig config,
                                                                       CurlOptions options) {
  if (config.server.empty()) return absl::InvalidArgumentError("kube: config has no server");
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError(Cat("kube: server \"", config.server, "\" is not an http(s) URL"));
  }
  if (config.server.rfind("http://", 0) == 0 && (!config.token.empty() || config.token_file) &&
      !IsLoopbackHttp(config.server)) {
    return absl::InvalidArgumentError(
        Cat("kube: refusing to send a bearer token over plain http to \"", config.server, "\"; use https"));
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

std::string CurlKubeClient::CertificateFilesState() const {
  std::string state;
  for (const std::string* path : {&config_.ca_file, &config_.client_cert_file, &config_.client_key_file}) {
    if (path->empty()) continue;
    struct stat st {};
    if (::stat(path->c_str(), &st) == 0) {
      state += Cat(st.st_ino, ".", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ".", st.st_size, ";");
    } else {
      state += "-;";
    }
  }
  return state;
}

std::unique_ptr<CurlKubeClient::Handle> CurlKubeClient::Acquire() {
  const std::string files = CertificateFilesState();
  {
    std::lock_guard lock(pool_->mu);
    if (files != pool_->files) {
      if (!pool_->files.empty()) log::Info("kubeconfig certificate files changed; reconnecting");
      pool_->handles.clear();
      pool_->files = files;
    }
    if (!pool_->handles.empty()) {
      std::unique_ptr<Handle> handle = std::move(pool_->handles.back());
      pool_->handles.pop_back();
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  handle->easy = curl_easy_init();
  handle->files = files;
  return handle;
}

void CurlKubeClient::Release(std::unique_ptr<Handle> handle) {
  if (handle->headers != nullptr) {
    curl_slist_free_all(handle->headers);
    handle->headers = nullptr;
  }
  std::lock_guard lock(pool_->mu);
  if (handle->files == pool_->files && pool_->handles.size() < kMaxPooledHandles) {
    pool_->handles.push_back(std::move(handle));
  }
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
  bool reread_token = false;
  int waits = 0;
  for (;;) {
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
    curl_easy_setopt(handle->easy, CURLOPT_HEADERFUNCTION, &ReadRetryAfter);
    curl_easy_setopt(handle->easy, CURLOPT_HEADERDATA, &response.retry_after);
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
    if (response.code == 401 && !reread_token && config_.token_file) {
      reread_token = true;
      config_.token_file->Invalidate();
      continue;
    }
    // client-go's rule: 429, or a 5xx with Retry-After, was not acted on;
    // wait as told and send again, up to 10 times, within the request timeout.
    // A wait that would pass the deadline returns the answer at once.
    if ((response.code == 429 || (response.code >= 500 && response.retry_after)) &&
        waits < kMaxRetryAfterWaits) {
      const Duration wait = response.retry_after.value_or(std::chrono::seconds(1));
      if (clock.Now() + wait < deadline) {
        ++waits;
        log::Info("apiserver asked to retry later",
                  {{"path", path_and_query},
                   {"code", static_cast<int64_t>(response.code)},
                   {"retry_after_ms", static_cast<int64_t>(ToMillis(wait))}});
        clock.SleepFor(wait);
        continue;
      }
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
  // The first event that could not be parsed (bad JSON, a line over the
  // limit): the stream ends there, never skipping it.
  absl::Status malformed = absl::OkStatus();
  std::string what;  // for logs

  explicit WatchStream(size_t max_line) : splitter(max_line) {}

  bool Deliver(std::vector<absl::StatusOr<WatchEvent>> events) {
    for (auto& event : events) {
      if (!event.ok()) {
        malformed = event.status();
        log::Warn("kube watch: malformed event; the stream ends here",
                  {{"watch", what}, {"error", std::string(event.status().message())}});
        return false;
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

    if (!stream.malformed.ok()) {
      return absl::DataLossError(Cat("watch ", path, ": malformed event (", stream.malformed.message(),
                                     "); watch again from the last event applied"));
    }
    if (cancelled || stream.stopped_by_handler) return absl::OkStatus();
    if (stream.code == 401 && attempt == 0 && config_.token_file) {
      config_.token_file->Invalidate();
      continue;
    }
    if (stream.code != 0 && stream.code != 200) return StatusFromHttp(stream.code, stream.error_body);
    if (result != CURLE_OK && result != CURLE_OPERATION_TIMEDOUT) {
      return TransportError(Cat("watch ", path, ": ", error[0] != '\0' ? error : curl_easy_strerror(result)));
    }
    if (!stream.Deliver(stream.splitter.Finish()) && !stream.malformed.ok()) {
      return absl::DataLossError(Cat("watch ", path, ": malformed event (", stream.malformed.message(),
                                     "); watch again from the last event applied"));
    }
    return absl::OkStatus();
  }
}

}  // namespace zs::kube
