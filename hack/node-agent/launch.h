// What to exec for one container of a pod: executable, argv, environment.
// A pure function of the pod, the container, the image map and the pod's
// context, so it is table-tested without processes.
//
// Rules (documented in README.md):
//   - no command: executable = the image's mapped executable; argv = [exe] + args.
//   - command[0] listed in the image's `files`: that host file;
//     argv = [file] + command[1:] + args.
//   - else command[0] an absolute path to an executable on this host: run as
//     is (argv = command + args); the image need not be mapped (handy for
//     tests: image "busybox", command ["/bin/sleep", "60"]).
//   - any other command: executable = the image's entrypoint;
//     argv = [exe] + command[1:] + args (command[0] names the entrypoint inside
//     the image, which the mapped executable stands for).
//   - $(VAR) in command, args and env values expands to earlier env vars,
//     $$ to $ (as the kubelet does).
//   - environment: PATH, HOSTNAME=<pod name>, KUBERNETES_SERVICE_HOST/PORT (the
//     apiserver as reachable from the pod), PORT=<first containerPort>,
//     ZS_SERVICEACCOUNT_DIR=<token folder>, then the container's env in order
//     (value; valueFrom fieldRef for metadata.name/namespace/uid/labels['k']/
//     annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP,
//     status.hostIP; configMapKeyRef and secretKeyRef through `lookup`).
// Failures carry the container's Waiting reason: ErrImagePull for an unmapped
// image, CreateContainerConfigError for env it cannot resolve.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "hack/node-agent/image_map.h"

namespace zs::nodeagent {

struct PodContext {
  std::string pod_ip;
  std::string host_ip;
  std::string node_name;
  std::string apiserver_host;
  std::string apiserver_port;
  std::string service_account_dir;  // host folder with token, ca.crt, namespace
};

struct LaunchSpec {
  std::string executable;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value"
  std::string working_dir;       // container.workingDir, else "/"
};

struct LaunchError {
  std::string reason;  // "ErrImagePull", "CreateContainerConfigError"
  std::string message;
};

// Reads one key of a ConfigMap ("configmap") or Secret ("secret", decoded).
using KeyLookup = std::function<absl::StatusOr<std::string>(const std::string& kind, const std::string& ns,
                                                            const std::string& name, const std::string& key)>;
// Whether a host path is an executable file (injected for tests).
using ExecutableCheck = std::function<bool(const std::string& path)>;

// On failure returns an error and fills `error` (when not null).
absl::StatusOr<LaunchSpec> BuildLaunch(const nlohmann::json& pod, const nlohmann::json& container,
                                       const ImageMap& images, const PodContext& context,
                                       const KeyLookup& lookup, const ExecutableCheck& is_executable,
                                       LaunchError* error);

// Expands $(NAME) from `vars` ("NAME=value" entries, later wins); $$ -> $;
// unknown references stay as written.
std::string ExpandVars(const std::string& text, const std::vector<std::string>& vars);

}  // namespace zs::nodeagent
