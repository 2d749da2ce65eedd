#include "hack/node-agent/launch.h"

#include <map>

#include "common/strings.h"

namespace zs::nodeagent {
namespace {

std::map<std::string, std::string> ToMap(const std::vector<std::string>& vars) {
  std::map<std::string, std::string> out;
  for (const auto& var : vars) {
    size_t eq = var.find('=');
    if (eq != std::string::npos) out[var.substr(0, eq)] = var.substr(eq + 1);
  }
  return out;
}

void SetVar(std::vector<std::string>& env, const std::string& name, const std::string& value) {
  for (auto& var : env) {
    if (var.compare(0, name.size() + 1, name + "=") == 0) {
      var.resize(name.size() + 1);  // keep "NAME="
      var.append(value);
      return;
    }
  }
  env.push_back(name + "=" + value);
}

// metadata.labels['app'] -> ("labels", "app")
bool SubscriptOf(const std::string& path, const std::string& field, std::string* key) {
  const std::string prefix = "metadata." + field + "['";
  if (path.compare(0, prefix.size(), prefix) != 0 || path.size() < prefix.size() + 2) return false;
  if (path.substr(path.size() - 2) != "']") return false;
  *key = path.substr(prefix.size(), path.size() - prefix.size() - 2);
  return true;
}

absl::StatusOr<std::string> FieldRef(const nlohmann::json& pod, const std::string& path,
                                     const PodContext& context) {
  const nlohmann::json& meta = pod.contains("metadata") ? pod["metadata"] : nlohmann::json::object();
  const nlohmann::json& spec = pod.contains("spec") ? pod["spec"] : nlohmann::json::object();
  if (path == "metadata.name") return meta.value("name", "");
  if (path == "metadata.namespace") return meta.value("namespace", "");
  if (path == "metadata.uid") return meta.value("uid", "");
  if (path == "spec.nodeName") return spec.value("nodeName", context.node_name);
  if (path == "spec.serviceAccountName") return spec.value("serviceAccountName", "default");
  if (path == "status.podIP") return context.pod_ip;
  if (path == "status.podIPs") return context.pod_ip;
  if (path == "status.hostIP" || path == "status.hostIPs") return context.host_ip;
  std::string key;
  for (const char* field : {"labels", "annotations"}) {
    if (SubscriptOf(path, field, &key)) {
      auto values = meta.value(field, nlohmann::json::object());
      return values.value(key, "");
    }
  }
  return absl::InvalidArgumentError(Cat("unsupported fieldRef ", path));
}

}  // namespace

std::string ExpandVars(const std::string& text, const std::vector<std::string>& vars) {
  if (text.find('$') == std::string::npos) return text;
  std::map<std::string, std::string> values = ToMap(vars);
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out.push_back(text[i]);
      continue;
    }
    if (text[i + 1] == '$') {
      out.push_back('$');
      ++i;
      continue;
    }
    if (text[i + 1] == '(') {
      size_t close = text.find(')', i + 2);
      if (close != std::string::npos) {
        auto it = values.find(text.substr(i + 2, close - i - 2));
        if (it != values.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

absl::StatusOr<LaunchSpec> BuildLaunch(const nlohmann::json& pod, const nlohmann::json& container,
                                       const ImageMap& images, const PodContext& context,
                                       const KeyLookup& lookup, const ExecutableCheck& is_executable,
                                       LaunchError* error) {
  auto fail = [&](const std::string& reason, const std::string& message) -> absl::Status {
    if (error != nullptr) *error = LaunchError{reason, message};
    return absl::FailedPreconditionError(Cat(reason, ": ", message));
  };
  const nlohmann::json meta = pod.value("metadata", nlohmann::json::object());
  const std::string ns = meta.value("namespace", "default");
  const std::string image = container.value("image", "");
  std::vector<std::string> command = container.value("command", std::vector<std::string>{});
  std::vector<std::string> args = container.value("args", std::vector<std::string>{});

  LaunchSpec spec;
  spec.working_dir = container.value("workingDir", "/");
  if (spec.working_dir.empty()) spec.working_dir = "/";

  // Environment, in the order the kubelet builds it.
  std::vector<std::string>& env = spec.env;
  env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.push_back("HOSTNAME=" + meta.value("name", ""));
  if (!context.apiserver_host.empty()) {
    env.push_back("KUBERNETES_SERVICE_HOST=" + context.apiserver_host);
    env.push_back("KUBERNETES_SERVICE_PORT=" + context.apiserver_port);
    env.push_back("KUBERNETES_SERVICE_PORT_HTTPS=" + context.apiserver_port);
    env.push_back(Cat("KUBERNETES_PORT=tcp://", context.apiserver_host, ":", context.apiserver_port));
  }
  if (!context.service_account_dir.empty())
    env.push_back("ZS_SERVICEACCOUNT_DIR=" + context.service_account_dir);
  if (auto ports = container.find("ports");
      ports != container.end() && ports->is_array() && !ports->empty()) {
    if ((*ports)[0].contains("containerPort"))
      env.push_back(Cat("PORT=", (*ports)[0]["containerPort"].get<int64_t>()));
  }
  if (auto list = container.find("env"); list != container.end() && list->is_array()) {
    for (const auto& var : *list) {
      const std::string name = var.value("name", "");
      if (name.empty()) continue;
      if (var.contains("value")) {
        SetVar(env, name, ExpandVars(var["value"].get<std::string>(), env));
        continue;
      }
      const nlohmann::json from = var.value("valueFrom", nlohmann::json::object());
      absl::StatusOr<std::string> value;
      if (from.contains("fieldRef")) {
        value = FieldRef(pod, from["fieldRef"].value("fieldPath", ""), context);
      } else if (from.contains("configMapKeyRef") || from.contains("secretKeyRef")) {
        const bool is_secret = from.contains("secretKeyRef");
        const nlohmann::json& ref = is_secret ? from["secretKeyRef"] : from["configMapKeyRef"];
        if (!lookup) {
          value = absl::UnimplementedError("no lookup");
        } else {
          value = lookup(is_secret ? "secret" : "configmap", ns, ref.value("name", ""), ref.value("key", ""));
        }
        if (!value.ok() && ref.value("optional", false)) continue;
      } else {
        value =
            absl::UnimplementedError("only value, fieldRef, configMapKeyRef and secretKeyRef are supported");
      }
      if (!value.ok()) {
        return fail("CreateContainerConfigError", Cat("env ", name, ": ", value.status().message()));
      }
      SetVar(env, name, *value);
    }
  }

  // Executable and argv.
  for (auto& part : command) part = ExpandVars(part, env);
  for (auto& part : args) part = ExpandVars(part, env);
  absl::StatusOr<ImageEntry> entry = images.Find(image);
  auto use = [&](const std::string& executable) {
    spec.executable = executable;
    spec.argv.push_back(executable);
    if (command.size() > 1) spec.argv.insert(spec.argv.end(), command.begin() + 1, command.end());
  };
  if (!command.empty() && entry.ok() && entry->files.contains(command[0])) {
    use(entry->files.at(command[0]));  // a file of the image
  } else if (!command.empty() && !command[0].empty() && command[0][0] == '/' && is_executable &&
             is_executable(command[0])) {
    use(command[0]);  // a host executable, as is
  } else {
    absl::StatusOr<std::string> entrypoint = images.Resolve(image);
    if (!entrypoint.ok()) return fail("ErrImagePull", std::string(entrypoint.status().message()));
    use(*entrypoint);  // command[0] is the image's entrypoint
  }
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  return spec;
}

}  // namespace zs::nodeagent
