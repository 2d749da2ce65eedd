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
  static constexpr int32_t kMaxInFlight = 1000;
  static constexpr int32_t kMaxAttempts = 100;
  static constexpr int32_t kMaxBackoffSeconds = 86400;
  static constexpr size_t kMaxBrokerFieldBytes = 256;
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

// A key of a Secret in the Function's namespace.
struct SecretKeyRef {
  std::string name;
  std::string key;
  friend bool operator==(const SecretKeyRef&, const SecretKeyRef&) = default;
};

// spec.triggers[].nats: a NATS JetStream durable pull consumer.
struct NatsSource {
  std::string url;      // nats://host:port, or a comma-separated list
  std::string stream;   // the JetStream stream (it must exist)
  std::string subject;  // filter subject; empty: every subject of the stream
  // Durable consumer name, created if absent. Default (Decode):
  // zeroscale-<namespace>-<function>-<trigger>.
  std::string consumer;
  std::optional<SecretKeyRef> credentials_secret_ref;  // a .creds file
  friend bool operator==(const NatsSource&, const NatsSource&) = default;
};

// spec.triggers[].redis: a consumer group of a Redis stream.
struct RedisSource {
  std::string address;  // host:port
  std::string stream;
  // Consumer group, created if absent. Default (Decode): as NatsSource::consumer.
  std::string group;
  std::optional<SecretKeyRef> password_secret_ref;
  friend bool operator==(const RedisSource&, const RedisSource&) = default;
};

// spec.triggers[].delivery: how broker messages are delivered (brokers only).
struct DeliverySpec {
  int32_t max_in_flight = 10;         // concurrent invocations per trigger component replica
  int32_t max_attempts = 5;           // then dead-letter
  int32_t backoff_seconds = 1;        // before the 2nd attempt; doubles per attempt
  int32_t max_backoff_seconds = 300;  // the cap of the doubling
  std::string dead_letter_subject;    // NATS: required
  std::string dead_letter_stream;     // Redis: default <stream>.dead
  friend bool operator==(const DeliverySpec&, const DeliverySpec&) = default;
};

struct TriggerSpec {
  std::string name;
  // Exactly one source.
  std::optional<ScheduleSource> schedule;
  std::optional<NatsSource> nats;
  std::optional<RedisSource> redis;
  TriggerRequest request;
  DeliverySpec delivery;
  bool has_delivery = false;  // whether spec.triggers[].delivery was given
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

  // Broker triggers (nats, redis), written by every replica of the trigger
  // component that consumes: counts are sums over replicas (each adds what
  // it did since its last write), the rest is the last writer's view.
  std::optional<std::string> last_fire_time;  // the last invocation sent
  int64_t dead_lettered = 0;                  // given up after maxAttempts
  std::optional<int64_t> pending;             // the backlog: undelivered + unacknowledged
  // Whether the consumer is connected: "True", "False" (reason, message say
  // why), empty for schedules. The controller's TriggersReady condition.
  std::string connected;
  std::string reason;
  std::string message;
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
  // status.triggers, written by the trigger component (DecodeTriggerStatuses);
  // apart from FunctionStatus so that the controller's status writes neither
  // compare nor carry it. The controller reads it for TriggersReady.
  std::vector<TriggerStatus> trigger_statuses;
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

// A header a trigger may not send: one that would reframe the request (Host,
// Content-Length, Transfer-Encoding, Connection) or forge what zeroscale
// sets (X-Zeroscale-*). Case-insensitive.
bool IsReservedTriggerHeader(std::string_view name);

// The durable consumer (nats) or consumer group (redis) a broker trigger
// reads through: the spec's, else zeroscale-<namespace>-<function>-<trigger>.
std::string BrokerConsumerName(std::string_view ns, std::string_view function, const TriggerSpec& trigger);

// The memory request in bytes, if the spec has one that parses.
std::optional<double> MemoryRequestBytes(const FunctionSpec& spec);

}  // namespace zs::api
