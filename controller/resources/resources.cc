#include "controller/resources/resources.h"

#include <cstdint>
#include <cstdio>

#include "common/api/quantity.h"

namespace zs::controller::resources {

using nlohmann::json;

json Labels(const api::Function& fn) {
  return {{kFunctionLabel, fn.metadata.name},
          {kManagedByLabel, kManagedBy},
          {"app.kubernetes.io/name", fn.metadata.name}};
}

json OwnerReference(const api::Function& fn) {
  return {{"apiVersion", api::kApiVersion}, {"kind", api::kKind}, {"name", fn.metadata.name},
          {"uid", fn.metadata.uid},         {"controller", true}, {"blockOwnerDeletion", true}};
}

int64_t TerminationGracePeriodSeconds(const api::FunctionSpec& spec) {
  return int64_t{spec.timeout_seconds} + kPreStopSleepSeconds + kTerminationSlackSeconds;
}

namespace {

// The pod setting `field` of the spec, or null.
const json& Setting(const api::FunctionSpec& spec, const char* field) {
  static const json kNull;
  auto it = spec.pod.find(field);
  return it == spec.pod.end() ? kNull : *it;
}

}  // namespace

json PodSecurityContext(const api::FunctionSpec& spec) {
  json context = {{"runAsNonRoot", true}, {"seccompProfile", {{"type", "RuntimeDefault"}}}};
  if (const json& user = Setting(spec, "securityContext"); user.is_object()) {
    for (auto it = user.begin(); it != user.end(); ++it) context[it.key()] = it.value();
  }
  return context;
}

json ContainerSecurityContext(const api::FunctionSpec& spec) {
  const json& user = Setting(spec, "containerSecurityContext");
  json context = json::object();
  // privileged, or SYS_ADMIN added, implies privilege escalation: Kubernetes
  // refuses either with allowPrivilegeEscalation false, so the default steps
  // aside (Pod Security restricted refuses such a pod anyway, with a reason).
  bool escalates = user.is_object() && user.value("privileged", false);
  if (user.is_object() && user.contains("capabilities") && user["capabilities"].contains("add")) {
    for (const json& cap : user["capabilities"]["add"]) {
      escalates = escalates || cap == "SYS_ADMIN" || cap == "CAP_SYS_ADMIN";
    }
  }
  if (!escalates) context["allowPrivilegeEscalation"] = false;
  context["capabilities"] = {{"drop", json::array({"ALL"})}};
  if (!user.is_object()) return context;
  for (auto it = user.begin(); it != user.end(); ++it) {
    if (it.key() == "capabilities") {
      for (auto cap = it->begin(); cap != it->end(); ++cap) context["capabilities"][cap.key()] = cap.value();
    } else {
      context[it.key()] = it.value();
    }
  }
  return context;
}

namespace {

json Container(const api::Function& fn) {
  const api::FunctionSpec& spec = fn.spec;
  json c = {{"name", kContainerName}, {"image", spec.image}};
  if (!spec.command.empty()) c["command"] = spec.command;
  if (!spec.args.empty()) c["args"] = spec.args;
  // PORT tells the server where to listen, as Knative and Cloud Run do;
  // a user-set PORT wins.
  json env = json::array();
  bool has_port = false;
  for (const auto& e : spec.env) {
    json var = {{"name", e.name}};
    if (e.value) var["value"] = *e.value;
    if (!e.value_from.is_null()) var["valueFrom"] = e.value_from;
    has_port = has_port || e.name == "PORT";
    env.push_back(std::move(var));
  }
  if (!has_port) env.push_back({{"name", "PORT"}, {"value", std::to_string(spec.port)}});
  c["env"] = std::move(env);
  if (const json& env_from = Setting(spec, "envFrom"); !env_from.is_null()) c["envFrom"] = env_from;
  c["ports"] = json::array({{{"name", kPortName}, {"containerPort", spec.port}, {"protocol", "TCP"}}});
  json resources = json::object();
  auto list = [](const api::ResourceList& l) {
    json out = json::object();
    if (l.cpu) out["cpu"] = *l.cpu;
    if (l.memory) out["memory"] = *l.memory;
    return out;
  };
  if (json r = list(spec.resources.requests); !r.empty()) resources["requests"] = r;
  if (json l = list(spec.resources.limits); !l.empty()) resources["limits"] = l;
  if (!resources.empty()) c["resources"] = resources;
  // A TCP probe: a function need not answer any particular path. Probed
  // every second so that a cold start is seen as soon as the port opens.
  c["readinessProbe"] = {{"tcpSocket", {{"port", spec.port}}},
                         {"periodSeconds", 1},
                         {"successThreshold", 1},
                         {"failureThreshold", 3},
                         {"timeoutSeconds", 1}};
  if (const json& mounts = Setting(spec, "volumeMounts"); mounts.is_array()) {
    json out = json::array();
    for (json mount : mounts) {
      mount["readOnly"] = true;  // Secrets and ConfigMaps only, never written
      out.push_back(std::move(mount));
    }
    c["volumeMounts"] = std::move(out);
  }
  // Keeps serving while endpoints converge, before SIGTERM (see
  // kPreStopSleepSeconds).
  c["lifecycle"] = {{"preStop", {{"sleep", {{"seconds", kPreStopSleepSeconds}}}}}};
  c["securityContext"] = ContainerSecurityContext(spec);
  return c;
}

// The pod's labels: the user's podLabels, then zeroscale's (validation
// refuses podLabels that name those; should one get through, ours win).
json PodLabels(const api::Function& fn) {
  json labels = json::object();
  if (const json& user = Setting(fn.spec, "podLabels"); user.is_object()) labels = user;
  const json ours = Labels(fn);
  for (auto it = ours.begin(); it != ours.end(); ++it) labels[it.key()] = it.value();
  return labels;
}

json PodSpec(const api::Function& fn) {
  const api::FunctionSpec& spec = fn.spec;
  const std::string service_account = Setting(spec, "serviceAccountName").is_string()
                                          ? Setting(spec, "serviceAccountName").get<std::string>()
                                          : "";
  json pod = {{"containers", json::array({Container(fn)})},
              {"terminationGracePeriodSeconds", TerminationGracePeriodSeconds(spec)},
              {"enableServiceLinks", false},
              // A token only for a ServiceAccount the Function names: the
              // namespace's default one has no business with the API.
              {"automountServiceAccountToken", !service_account.empty()},
              {"securityContext", PodSecurityContext(spec)}};
  // Always written, "default" when the Function names none: the apiserver
  // copies serviceAccountName into its deprecated alias serviceAccount, which
  // no apply owns, and copies that back into a serviceAccountName an apply
  // merely leaves out, so a removed name would stay (seen on 1.37).
  pod["serviceAccountName"] = service_account.empty() ? "default" : service_account;
  for (const char* field : {"imagePullSecrets", "nodeSelector", "tolerations", "affinity", "volumes"}) {
    if (const json& value = Setting(spec, field); !value.is_null()) pod[field] = value;
  }
  return pod;
}

}  // namespace

json MakeDeployment(const api::Function& fn, std::optional<int32_t> replicas) {
  const json labels = Labels(fn);
  json spec = {
      {"selector", {{"matchLabels", {{kFunctionLabel, fn.metadata.name}}}}},
      {"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", 0}, {"maxSurge", 1}}}}},
      {"template", {{"metadata", {{"labels", PodLabels(fn)}}}, {"spec", PodSpec(fn)}}}};
  if (const json& annotations = Setting(fn.spec, "podAnnotations");
      annotations.is_object() && !annotations.empty()) {
    spec["template"]["metadata"]["annotations"] = annotations;
  }
  if (replicas) spec["replicas"] = *replicas;
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata",
           {{"name", fn.metadata.name},
            {"namespace", fn.metadata.namespace_},
            {"labels", labels},
            {"ownerReferences", json::array({OwnerReference(fn)})}}},
          {"spec", std::move(spec)}};
}

json MakeService(const api::Function& fn) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", fn.metadata.name},
            {"namespace", fn.metadata.namespace_},
            {"labels", Labels(fn)},
            {"ownerReferences", json::array({OwnerReference(fn)})}}},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", {{kFunctionLabel, fn.metadata.name}}},
            {"ports", json::array({{{"name", kPortName},
                                    {"port", fn.spec.port},
                                    {"targetPort", kPortName},
                                    {"protocol", "TCP"}}})}}}};
}

std::string FunctionUrl(const std::string& activator_url, const api::Function& fn) {
  std::string base = activator_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/fn/" + fn.metadata.namespace_ + "/" + fn.metadata.name + "/";
}

json WithAppliedHash(json object) {
  if (json* annotations = &object["metadata"]["annotations"]; annotations->is_object()) {
    annotations->erase(kAppliedHashAnnotation);
    if (annotations->empty()) object["metadata"].erase("annotations");
  } else {
    object["metadata"].erase("annotations");
  }
  // FNV-1a, 64 bits: a change detector, not a defence against anyone.
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char c : object.dump()) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  object["metadata"]["annotations"][kAppliedHashAnnotation] = hex;
  return object;
}

std::string AppliedHashOf(const json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto annotations = meta->find("annotations");
  if (annotations == meta->end() || !annotations->is_object()) return "";
  auto hash = annotations->find(kAppliedHashAnnotation);
  return hash != annotations->end() && hash->is_string() ? hash->get<std::string>() : "";
}

namespace {

bool IsSubsetAt(const json& desired, const json& actual, bool in_resources) {
  if (desired.is_object()) {
    if (!actual.is_object()) return false;
    for (auto it = desired.begin(); it != desired.end(); ++it) {
      auto found = actual.find(it.key());
      // Kubernetes drops an empty list or map (omitempty): not a difference.
      if (found == actual.end() && (it->is_array() || it->is_object()) && it->empty()) continue;
      if (found == actual.end() || !IsSubsetAt(it.value(), *found, in_resources || it.key() == "resources")) {
        return false;
      }
    }
    return true;
  }
  if (desired.is_array()) {
    if (!actual.is_array() || actual.size() != desired.size()) return false;
    for (size_t i = 0; i < desired.size(); ++i) {
      if (!IsSubsetAt(desired[i], actual[i], in_resources)) return false;
    }
    return true;
  }
  if (desired.is_number() && actual.is_number()) return desired.get<double>() == actual.get<double>();
  if (in_resources && desired.is_string() && actual.is_string() && desired != actual) {
    return api::CompareQuantities(desired.get<std::string>(), actual.get<std::string>()) == 0;
  }
  return desired == actual;
}

}  // namespace

bool IsSubset(const json& desired, const json& actual) { return IsSubsetAt(desired, actual, false); }

}  // namespace zs::controller::resources
