#include "common/kube/config.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"

namespace zs::kube {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(Cat("cannot read ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  size_t start = s.find_first_not_of(" \t\r\n");
  return start == std::string::npos ? std::string() : s.substr(start);
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

// Finds the entry named `name` in a kubeconfig list (clusters, users,
// contexts) and returns its inner map (`cluster`, `user`, `context`).
YAML::Node FindNamed(const YAML::Node& list, const std::string& name, const char* inner) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& entry : list) {
    if (entry["name"] && entry["name"].as<std::string>() == name) return entry[inner];
  }
  return YAML::Node();
}

std::string Str(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap() || !node[key] || !node[key].IsScalar()) return "";
  return node[key].as<std::string>();
}

absl::StatusOr<std::string> DecodeBase64(const std::string& field, const std::string& data) {
  std::string out;
  if (!absl::Base64Unescape(data, &out))
    return absl::InvalidArgumentError(Cat("kubeconfig: ", field, " is not base64"));
  return out;
}

int64_t MtimeNs(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

TokenFile::TokenFile(std::string path, Clock& clock, Duration check_interval)
    : path_(std::move(path)), clock_(clock), check_interval_(check_interval) {}

absl::StatusOr<std::string> TokenFile::Token() {
  std::lock_guard lock(mu_);
  MonotonicTime now = clock_.Now();
  if (loaded_ && !force_check_ && now - last_check_ < check_interval_) return token_;
  last_check_ = now;
  force_check_ = false;
  int64_t mtime = MtimeNs(path_);
  if (loaded_ && mtime == mtime_ns_) return token_;
  absl::StatusOr<std::string> text = ReadFile(path_);
  if (!text.ok()) {
    // Keep serving the old token if the file is briefly missing during rotation.
    if (loaded_) return token_;
    return text.status();
  }
  token_ = Trim(*text);
  mtime_ns_ = mtime;
  loaded_ = true;
  return token_;
}

void TokenFile::Invalidate() {
  std::lock_guard lock(mu_);
  force_check_ = true;
}

absl::StatusOr<KubeConfig> ParseKubeconfig(const std::string& yaml_text, const std::string& base_dir,
                                           const std::string& context) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root || !root.IsMap()) return absl::InvalidArgumentError("kubeconfig: not a YAML map");
    std::string context_name = context.empty() ? Str(root, "current-context") : context;
    if (context_name.empty()) return absl::InvalidArgumentError("kubeconfig: no current-context");
    YAML::Node ctx = FindNamed(root["contexts"], context_name, "context");
    if (!ctx) return absl::InvalidArgumentError(Cat("kubeconfig: context \"", context_name, "\" not found"));
    std::string cluster_name = Str(ctx, "cluster");
    std::string user_name = Str(ctx, "user");
    YAML::Node cluster = FindNamed(root["clusters"], cluster_name, "cluster");
    if (!cluster)
      return absl::InvalidArgumentError(Cat("kubeconfig: cluster \"", cluster_name, "\" not found"));
    YAML::Node user = FindNamed(root["users"], user_name, "user");

    KubeConfig config;
    config.source = "kubeconfig";
    config.server = Str(cluster, "server");
    while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
    if (config.server.empty()) return absl::InvalidArgumentError("kubeconfig: cluster has no server");
    if (std::string ns = Str(ctx, "namespace"); !ns.empty()) config.namespace_ = ns;

    if (std::string data = Str(cluster, "certificate-authority-data"); !data.empty()) {
      auto pem = DecodeBase64("certificate-authority-data", data);
      if (!pem.ok()) return pem.status();
      config.ca_pem = *pem;
    } else {
      config.ca_file = Resolve(base_dir, Str(cluster, "certificate-authority"));
    }
    std::string insecure = Str(cluster, "insecure-skip-tls-verify");
    config.insecure_skip_tls_verify = insecure == "true";

    if (user) {
      if (std::string data = Str(user, "client-certificate-data"); !data.empty()) {
        auto pem = DecodeBase64("client-certificate-data", data);
        if (!pem.ok()) return pem.status();
        config.client_cert_pem = *pem;
      } else {
        config.client_cert_file = Resolve(base_dir, Str(user, "client-certificate"));
      }
      if (std::string data = Str(user, "client-key-data"); !data.empty()) {
        auto pem = DecodeBase64("client-key-data", data);
        if (!pem.ok()) return pem.status();
        config.client_key_pem = *pem;
      } else {
        config.client_key_file = Resolve(base_dir, Str(user, "client-key"));
      }
      config.token = Str(user, "token");
      if (std::string token_file = Str(user, "tokenFile"); !token_file.empty() && config.token.empty()) {
        config.token_file = std::make_shared<TokenFile>(Resolve(base_dir, token_file), RealClock::Get());
      }
      if (user["exec"] || user["auth-provider"]) {
        return absl::UnimplementedError(
            Cat("kubeconfig: user \"", user_name,
                "\" uses exec/auth-provider credentials, which are not supported"));
      }
    }
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(Cat("kubeconfig: ", e.what()));
  }
}

absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  absl::StatusOr<KubeConfig> config = ParseKubeconfig(*text, base_dir, context);
  if (!config.ok()) return absl::Status(config.status().code(), Cat(path, ": ", config.status().message()));
  config->source = "kubeconfig:" + path;
  return config;
}

absl::StatusOr<KubeConfig> LoadInClusterConfig(Clock& clock, const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0') {
    return absl::FailedPreconditionError("in-cluster config: KUBERNETES_SERVICE_HOST is not set");
  }
  std::string dir = sa_dir;
  if (dir.empty()) {
    const char* env_dir = std::getenv("ZS_SERVICEACCOUNT_DIR");
    dir = env_dir != nullptr && *env_dir != '\0' ? env_dir : kServiceAccountDir;
  }
  KubeConfig config;
  config.source = "in-cluster";
  std::string host_text = host;
  // IPv6 literals need brackets in URLs.
  if (host_text.find(':') != std::string::npos) host_text = "[" + host_text + "]";
  config.server = Cat("https://", host_text, ":", port != nullptr && *port != '\0' ? port : "443");
  config.ca_file = dir + "/ca.crt";
  config.token_file = std::make_shared<TokenFile>(dir + "/token", clock);
  absl::StatusOr<std::string> token = config.token_file->Token();
  if (!token.ok()) return absl::FailedPreconditionError(Cat("in-cluster config: ", token.status().message()));
  if (absl::StatusOr<std::string> ns = ReadFile(dir + "/namespace"); ns.ok() && !Trim(*ns).empty()) {
    config.namespace_ = Trim(*ns);
  }
  return config;
}

absl::StatusOr<KubeConfig> LoadMergedKubeconfig(const std::vector<std::string>& paths,
                                                const std::string& context) {
  try {
    // clusters, contexts, users: collected apart and put in a fresh document
    // at the end (yaml-cpp hands out detached nodes for missing keys, and an
    // empty sequence node that is only read from stays detached).
    std::map<std::string, std::vector<YAML::Node>> lists;
    std::map<std::string, std::set<std::string>> names;
    std::string current_context;
    std::vector<std::string> read;
    for (const std::string& path : paths) {
      if (path.empty()) continue;
      absl::StatusOr<std::string> text = ReadFile(path);
      if (!text.ok()) continue;  // client-go skips missing entries of $KUBECONFIG
      YAML::Node root = YAML::Load(*text);
      if (!root || root.IsNull()) continue;
      if (!root.IsMap()) return absl::InvalidArgumentError(Cat(path, ": kubeconfig: not a YAML map"));
      read.push_back(path);
      if (current_context.empty()) current_context = Str(root, "current-context");
      const std::string base_dir = std::filesystem::path(path).parent_path().string();
      // clusters, contexts, users: the first file that names an entry wins;
      // its relative file paths stay relative to the file it came from.
      for (const auto& [list, inner] :
           {std::pair{"clusters", "cluster"}, {"contexts", "context"}, {"users", "user"}}) {
        const YAML::Node entries = root[list];
        if (!entries || !entries.IsSequence()) continue;
        for (const YAML::Node& entry : entries) {
          if (!entry["name"] || !entry["name"].IsScalar()) continue;
          const std::string name = entry["name"].as<std::string>();
          if (!names[list].insert(name).second) continue;
          YAML::Node copy = YAML::Clone(entry);
          YAML::Node body = copy[inner];
          for (const char* key : {"certificate-authority", "client-certificate", "client-key", "tokenFile"}) {
            if (body && body.IsMap() && body[key] && body[key].IsScalar()) {
              body[key] = Resolve(base_dir, body[key].as<std::string>());
            }
          }
          lists[list].push_back(copy);
        }
      }
    }
    if (read.empty())
      return absl::NotFoundError(Cat("no readable kubeconfig among: ", absl::StrJoin(paths, ":")));
    YAML::Node merged(YAML::NodeType::Map);
    for (const auto& [list, entries] : lists) {
      for (const YAML::Node& entry : entries) merged[list].push_back(entry);
    }
    if (!current_context.empty()) merged["current-context"] = current_context;
    YAML::Emitter out;
    out << merged;
    absl::StatusOr<KubeConfig> config = ParseKubeconfig(out.c_str(), "", context);
    if (!config.ok()) {
      return absl::Status(config.status().code(),
                          Cat(absl::StrJoin(read, ":"), ": ", config.status().message()));
    }
    config->source = "kubeconfig:" + absl::StrJoin(read, ":");
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(Cat("kubeconfig: ", e.what()));
  }
}

absl::StatusOr<KubeConfig> ResolveConfig(const std::string& kubeconfig_flag, Clock& clock) {
  if (!kubeconfig_flag.empty()) return LoadKubeconfig(kubeconfig_flag);
  const char* env = std::getenv("KUBECONFIG");
  if (env != nullptr && *env != '\0') {
    std::vector<std::string> paths;
    std::string list(env);
    for (size_t start = 0;;) {
      const size_t end = list.find(':', start);
      paths.push_back(list.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return LoadMergedKubeconfig(paths);
  }
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (host != nullptr && *host != '\0') return LoadInClusterConfig(clock);
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    return absl::FailedPreconditionError(
        "no apiserver configuration: set --kubeconfig or $KUBECONFIG, or run in a pod");
  }
  return LoadKubeconfig(std::string(home) + "/.kube/config");
}

}  // namespace zs::kube
