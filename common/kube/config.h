// Where the apiserver is and how to authenticate to it: from a kubeconfig
// file or from a pod's in-cluster service-account mount.
//
// Resolution order for binaries (ResolveConfig), as controller-runtime's:
// --kubeconfig flag, else every file of $KUBECONFIG (':'-separated) merged as
// kubectl merges them, else in-cluster when KUBERNETES_SERVICE_HOST is set,
// else ~/.kube/config. A $KUBECONFIG set inside a pod therefore wins over the
// ServiceAccount, as it does for controller-runtime and kubectl.
//
// In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with
// token, ca.crt and namespace read from /var/run/secrets/kubernetes.io/serviceaccount,
// or from $ZS_SERVICEACCOUNT_DIR when set (the local node agent cannot always
// mount that path; tests point it anywhere).
//
// Exceptions from yaml-cpp stop inside the loaders.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"

namespace zs::kube {

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// A bearer token kept in a file that the kubelet rotates. Token() re-reads the
// file when its mtime changed, checking at most once per `check_interval`
// (a minute) unless Invalidate() was called (on a 401).
//
// Thread-safety: all methods may be called concurrently.
class TokenFile {
 public:
  TokenFile(std::string path, Clock& clock, Duration check_interval = std::chrono::minutes(1));
  absl::StatusOr<std::string> Token();
  // Forces the next Token() to look at the file again.
  void Invalidate();
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  Clock& clock_;
  const Duration check_interval_;
  std::mutex mu_;
  std::string token_;
  int64_t mtime_ns_ = -1;
  bool loaded_ = false;
  bool force_check_ = true;
  MonotonicTime last_check_{};
};

struct KubeConfig {
  std::string server;  // "https://127.0.0.1:6443" (no trailing slash)
  // Trust: PEM data, or a file path; empty both = system CAs.
  std::string ca_pem;
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  // Client certificate: PEM data or file paths.
  std::string client_cert_pem;
  std::string client_cert_file;
  std::string client_key_pem;
  std::string client_key_file;
  // Bearer token: fixed, or read from a file (rotated; see TokenFile).
  std::string token;
  std::shared_ptr<TokenFile> token_file;
  // The context's namespace, or the pod's namespace in-cluster; "default" if unknown.
  std::string namespace_ = "default";
  // Where it came from, for logs: "kubeconfig:/path" or "in-cluster".
  std::string source;
};

// Loads `path`, using its current-context (or `context` when not empty).
// Relative file paths in the kubeconfig are relative to its directory.
absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path, const std::string& context = "");
// Parses kubeconfig text; `base_dir` resolves relative paths.
absl::StatusOr<KubeConfig> ParseKubeconfig(const std::string& yaml_text, const std::string& base_dir,
                                           const std::string& context = "");

// In-cluster config from the environment and `sa_dir` (empty: $ZS_SERVICEACCOUNT_DIR,
// else kServiceAccountDir).
absl::StatusOr<KubeConfig> LoadInClusterConfig(Clock& clock, const std::string& sa_dir = "");

// Several kubeconfig files merged as kubectl and client-go merge $KUBECONFIG:
// missing files are skipped; a cluster, context or user is taken from the
// first file that names it, with its relative paths resolved against that
// file's folder; current-context is the first one set. `context` overrides it.
absl::StatusOr<KubeConfig> LoadMergedKubeconfig(const std::vector<std::string>& paths,
                                                const std::string& context = "");

// The binaries' resolution order (see the file comment).
absl::StatusOr<KubeConfig> ResolveConfig(const std::string& kubeconfig_flag, Clock& clock);

}  // namespace zs::kube
