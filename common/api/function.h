// The Function custom resource (zeroscale.dev/v1alpha1), shared by the
// controller (which reconciles it) and the activator (which routes to it).
//
// Decode() turns the apiserver's JSON into a Function with docs/function-api.md's
// defaults applied; Validate() applies the same rules as the CRD's schema
// and CEL rules, with messages that name the field. The CRD is the first
// line of defence; these functions keep a Function that reached us by
// another path (an older CRD, a test) from being acted on.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/api/meta.h"

namespace zs::api {

inline constexpr char kGroup[] = "zeroscale.dev";
inline constexpr char kVersion[] = "v1alpha1";
inline constexpr char kApiVersion[] = "zeroscale.dev/v1alpha1";
inline constexpr char kKind[] = "Function";
inline constexpr char kPlural[] = "functions";

// Defaults and bounds, in one place; the CRD (deploy/crds) carries the same
// numbers and a unit test keeps the two in step.
struct Defaults {
  static constexpr int32_t kPort = 8080;
  static constexpr int32_t kTimeoutSeconds = 30;
  static constexpr int32_t kMinReplicas = 0;
  static constexpr int32_t kMaxReplicas = 10;
  static constexpr int32_t kTargetConcurrency = 10;
  static constexpr int32_t kMaxConcurrency = 0;
  static constexpr int32_t kScaleToZeroAfterSeconds = 60;
  static constexpr int32_t kBufferMaxRequests = 1000;
  static constexpr int32_t kBufferTimeoutSeconds = 60;
};
struct Bounds {
  static constexpr int32_t kMaxTimeoutSeconds = 900;
  static constexpr int32_t kMaxReplicasCap = 1000;
  static constexpr int32_t kMaxTargetConcurrency = 10000;
  static constexpr int32_t kMaxScaleToZeroAfterSeconds = 86400;
  static constexpr int32_t kMaxBufferRequests = 100000;
  static constexpr int32_t kMaxBufferTimeoutSeconds = 900;
  static constexpr size_t kMaxTriggers = 16;
  static constexpr int32_t kMaxStartingDeadlineSeconds = 31536000;  // a year
  static constexpr size_t kMaxTriggerHeaders = 32;
  static constexpr size_t kMaxTriggerBodyBytes = 65536;
  static constexpr size_t kMaxTriggerPathBytes = 2048;
  static constexpr size_t kMaxCronBytes = 128;
};

// The spec fields that shape the Function's pods beyond its container's
// image, command, env, port and resources, as DESIGN's Function API lists them.
inline constexpr std::array<const char*, 12> kPodSettingFields = {
    "serviceAccountName", "imagePullSecrets", "nodeSelector",    "tolerations",
    "affinity",           "envFrom",          "volumes",         "volumeMounts",
    "podLabels",          "podAnnotations",   "securityContext", "containerSecurityContext"};

struct EnvVar {
  std::string name;
  std::optional<std::string> value;
  nlohmann::json value_from;  // passed through to the container as is

  friend bool operator==(const EnvVar&, const EnvVar&) = default;
};

struct ResourceList {
  std::optional<std::string> cpu;
  std::optional<std::string> memory;
  friend bool operator==(const ResourceList&, const ResourceList&) = default;
};

struct Resources {
  ResourceList requests;
  ResourceList limits;
  friend bool operator==(const Resources&, const Resources&) = default;
};

struct ScalingSpec {
  int32_t min_replicas = Defaults::kMinReplicas;
  int32_t max_replicas = Defaults::kMaxReplicas;
  int32_t target_concurrency = Defaults::kTargetConcurrency;
  int32_t max_concurrency = Defaults::kMaxConcurrency;
  int32_t scale_to_zero_after_seconds = Defaults::kScaleToZeroAfterSeconds;
  friend bool operator==(const ScalingSpec&, const ScalingSpec&) = default;
};

struct BufferSpec {
  int32_t max_requests = Defaults::kBufferMaxRequests;
  int32_t timeout_seconds = Defaults::kBufferTimeoutSeconds;
  friend bool operator==(const BufferSpec&, const BufferSpec&) = default;
};

// spec.triggers[].schedule: a cron schedule (docs/triggers.md).
struct ScheduleSource {
  std::string cron;
  std::string time_zone = "UTC";
  std::string concurrency_policy = "Allow";  // Allow | Forbid | Replace
  // Unset: only the most recent missed tick may still fire (as CronJob).
  std::optional<int32_t> starting_deadline_seconds;
  friend bool operator==(const ScheduleSource&, const ScheduleSource&) = default;
};

// spec.triggers[].request: what the trigger sends to the Function.
struct TriggerRequest {
  std::string method = "POST";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;  // name, value; in order
  std::string body;
  friend bool operator==(const TriggerRequest&, const TriggerRequest&) = default;
};

struct TriggerSpec {
  std::string name;
  std::optional<ScheduleSource> schedule;
  // Broker sources, reserved in the API and refused until they are built.
  bool nats = false;
  bool redis = false;
  TriggerRequest request;
  friend bool operator==(const TriggerSpec&, const TriggerSpec&) = default;
};

struct FunctionSpec {
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  int32_t port = Defaults::kPort;
  Resources resources;
  int32_t timeout_seconds = Defaults::kTimeoutSeconds;
  ScalingSpec scaling;
  BufferSpec buffer;
  // The pod settings of kPodSettingFields that the spec sets, keyed by their
  // spec names, each as the CRD types it (unknown fields pruned). They are
  // checked against the CRD's own schema (crd_schema.h) and passed into the
  // Deployment as they are (docs/function-api.md, "Pod settings").
  nlohmann::json pod = nlohmann::json::object();
  std::vector<TriggerSpec> triggers;
  friend bool operator==(const FunctionSpec&, const FunctionSpec&) = default;
};

struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;
  std::string message;
  std::string last_transition_time;
  int64_t observed_generation = 0;
  friend bool operator==(const Condition&, const Condition&) = default;
};

// status.triggers[]: written only by the trigger component's leader, each
// write conditional on the Function's resourceVersion (docs/triggers.md).
struct TriggerStatus {
  std::string name;
  // When the trigger component first saw the trigger: no earlier tick fires.
  std::optional<std::string> start_time;
  // The last tick skipped as missed, so that it is counted once.
  std::optional<std::string> last_missed_time;
  std::optional<std::string> last_schedule_time;    // the last tick claimed
  std::optional<std::string> last_successful_time;  // the last tick answered 2xx
  // A claimed tick whose outcome is not written yet: its time and the
  // identity of the process that claimed it.
  std::optional<std::string> active_tick;
  std::string active_holder;
  int64_t fired = 0;        // ticks claimed and sent
  int64_t succeeded = 0;    // answered 2xx
  int64_t failed = 0;       // answered otherwise, or not at all
  int64_t missed = 0;       // skipped: past startingDeadlineSeconds, or Forbid
  int64_t interrupted = 0;  // claimed by a process that died before the outcome
  friend bool operator==(const TriggerStatus&, const TriggerStatus&) = default;
};

struct FunctionStatus {
  int64_t observed_generation = 0;
  std::vector<Condition> conditions;
  int32_t replicas = 0;
  int32_t ready_replicas = 0;
  int32_t desired_replicas = 0;
  // "ready/desired", shown by kubectl's Replicas column.
  std::string replica_summary;
  std::string url;
  std::optional<std::string> last_request_time;
  std::optional<std::string> last_scale_time;
  friend bool operator==(const FunctionStatus&, const FunctionStatus&) = default;

  const Condition* FindCondition(std::string_view type) const;
};

struct Function {
  ObjectMeta metadata;
  FunctionSpec spec;
  FunctionStatus status;
};

// Decodes a Function object. Absent fields take the documented defaults; a field
// of the wrong JSON type is an InvalidArgument naming it ("spec.port: must be
// an integer").
absl::StatusOr<Function> DecodeFunction(const nlohmann::json& object);
FunctionStatus DecodeFunctionStatus(const nlohmann::json& status);

// The CRD's rules; the first violation, e.g.
// "spec.scaling.minReplicas: must be less than or equal to maxReplicas".
absl::Status ValidateFunctionSpec(const FunctionSpec& spec);

// metadata.name must be a DNS-1035 label of at most 63 characters: it names
// the Function's Service, and a Host label routes to it.
absl::Status ValidateFunctionName(std::string_view name);

// The name and the spec: what the CRD's schema and CEL rules refuse.
absl::Status ValidateFunction(const Function& fn);

// The C++ verdict on a whole object as a user would apply it: decoded, then
// validated. tests/testdata holds the table of objects on which this and the
// apiserver (with the CRD of deploy/crds) must agree.
absl::Status ValidateFunctionObject(const nlohmann::json& object);

// Full object (apiVersion, kind, metadata, spec, status) and the status alone.
nlohmann::json EncodeFunction(const Function& fn);
nlohmann::json EncodeFunctionSpec(const FunctionSpec& spec);
nlohmann::json EncodeFunctionStatus(const FunctionStatus& status);

// status.triggers, kept out of FunctionStatus: the controller neither reads
// nor writes it (its merge patch leaves the key alone), so its no-op check
// stays blind to trigger writes.
std::vector<TriggerStatus> DecodeTriggerStatuses(const nlohmann::json& status);
nlohmann::json EncodeTriggerStatuses(const std::vector<TriggerStatus>& triggers);

// The memory request in bytes, if the spec has one that parses.
std::optional<double> MemoryRequestBytes(const FunctionSpec& spec);

}  // namespace zs::api
