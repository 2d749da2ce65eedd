#include "common/api/function.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include "absl/status/statusor.h"
#include "common/api/crd_schema.h"
#include "common/api/quantity.h"
#include "common/cron/cron.h"
#include "common/strings.h"

namespace zs::api {
namespace {

using nlohmann::json;

// The messages of the CRD's CEL rules (deploy/crds), word for word, so that
// a user reads the same sentence from kubectl and from a Function's status.
constexpr char kNameNotDns1035Label[] =
    "must be a DNS-1035 label: at most 63 characters, lowercase letters, digits and '-', "
    "starting with a letter and ending with a letter or digit";
constexpr char kEnvValueOrValueFrom[] = "must set at most one of value and valueFrom";
constexpr char kValueFromOneSource[] =
    "must set exactly one of fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef";
constexpr char kCpuRequestAboveLimit[] = "requests.cpu must be less than or equal to limits.cpu";
constexpr char kMemoryRequestAboveLimit[] = "requests.memory must be less than or equal to limits.memory";
constexpr char kTriggerNameNotDnsLabel[] =
    "must be a DNS label: at most 63 characters, lowercase letters, digits and '-', "
    "starting and ending with a letter or digit";
constexpr char kTriggerOneSource[] = "must set exactly one of schedule, nats and redis";
constexpr char kTriggerDelivery[] =
    "delivery is for nats and redis triggers only; a nats trigger needs delivery.deadLetter.subject, "
    "a redis trigger may set delivery.deadLetter.stream";
constexpr char kNatsUrl[] =
    "must be nats://host:port or tls://host:port, or a comma-separated list of them without spaces";
constexpr char kNatsName[] = "must be 1 to 256 letters, digits, '-' and '_'";
constexpr char kNatsSubject[] =
    "must be dot-separated tokens of printable characters without spaces; '*' is one token, '>' the last";
constexpr char kRedisAddress[] = "must be host:port";
constexpr char kRedisDeadLetterLoop[] = "delivery.deadLetter.stream must not be the stream the trigger reads";
constexpr char kCronSyntax[] =
    "must be 5 cron fields (minute hour day-of-month month day-of-week) with numbers, names, *, ?, "
    "ranges, steps and lists, or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly";
constexpr char kTimeZoneUnknown[] = "must be a time zone of the IANA database, e.g. Europe/Paris or UTC";
constexpr char kMountNamesAVolume[] = "every volumeMounts[].name must be the name of one of spec.volumes";
constexpr char kHeaderReserved[] =
    "must not be Host, Content-Length, Transfer-Encoding, Connection or X-Zeroscale-*, which zeroscale sets";

// Reads optional typed fields with the field path in every error.
class Reader {
 public:
  absl::Status status() const { return status_; }

  const json* Object(const json& parent, const char* key, const std::string& path) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return nullptr;
    if (!it->is_object()) Fail(path, "must be an object");
    return it->is_object() ? &*it : nullptr;
  }

  void Int(const json& parent, const char* key, const std::string& path, int32_t* out) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    if (!it->is_number_integer()) return Fail(path, "must be an integer");
    const int64_t v = it->get<int64_t>();
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      return Fail(path, "must fit in 32 bits");
    }
    *out = static_cast<int32_t>(v);
  }

  void OptInt(const json& parent, const char* key, const std::string& path, std::optional<int32_t>* out) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    int32_t v = 0;
    Int(parent, key, path, &v);
    if (status_.ok()) *out = v;
  }

  void String(const json& parent, const char* key, const std::string& path, std::string* out) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    if (!it->is_string()) return Fail(path, "must be a string");
    *out = it->get<std::string>();
  }

  void OptString(const json& parent, const char* key, const std::string& path,
                 std::optional<std::string>* out) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    if (!it->is_string()) return Fail(path, "must be a string");
    *out = it->get<std::string>();
  }

  void Strings(const json& parent, const char* key, const std::string& path, std::vector<std::string>* out) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    if (!it->is_array()) return Fail(path, "must be an array of strings");
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) return Fail(Cat(path, "[", i, "]"), "must be a string");
      out->push_back((*it)[i].get<std::string>());
    }
  }

  void Fail(const std::string& path, std::string_view why) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(Cat(path, ": ", why));
  }

 private:
  absl::Status status_;
};

// Quantities may arrive as integers ("memory: 1000000") as well as strings,
// as the CRD's int-or-string types them; not as other numbers ("cpu: 0.5").
// A YAML float with an integral value ("1e3") counts as an integer because
// kubectl sends it as one (1000), as long as it fits in an int64 as the
// apiserver reads integers.
std::optional<int64_t> QuantityInteger(const json& value) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    // 2^63 is the first double past int64's range.
    if (!std::isfinite(d) || std::trunc(d) != d || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
      return std::nullopt;
    }
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

void ReadResourceList(Reader& r, const json* parent, const char* key, const std::string& path,
                      ResourceList* out) {
  if (parent == nullptr) return;
  const json* list = r.Object(*parent, key, path);
  if (list == nullptr) return;
  for (const char* name : {"cpu", "memory"}) {
    auto it = list->find(name);
    if (it == list->end() || it->is_null()) continue;
    std::optional<std::string>* field = std::string_view(name) == "cpu" ? &out->cpu : &out->memory;
    if (it->is_string()) {
      *field = it->get<std::string>();
    } else if (std::optional<int64_t> integer = QuantityInteger(*it)) {
      *field = std::to_string(*integer);
    } else {
      r.Fail(Cat(path, ".", name), "must be a quantity such as \"128Mi\" or \"500m\"");
    }
  }
}

json EncodeResourceList(const ResourceList& list) {
  json out = json::object();
  if (list.cpu) out["cpu"] = *list.cpu;
  if (list.memory) out["memory"] = *list.memory;
  return out;
}

bool IsDns1123Label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsHeaderName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
      return false;
  }
  return true;
}

void ReadTriggers(Reader& r, const json& spec, std::vector<TriggerSpec>* out) {
  auto it = spec.find("triggers");
  if (it == spec.end() || it->is_null()) return;
  if (!it->is_array()) return r.Fail("spec.triggers", "must be an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    const std::string path = Cat("spec.triggers[", i, "]");
    if (!t.is_object()) return r.Fail(path, "must be an object");
    TriggerSpec trigger;
    r.String(t, "name", path + ".name", &trigger.name);
    if (const json* schedule = r.Object(t, "schedule", path + ".schedule")) {
      ScheduleSource source;
      r.String(*schedule, "cron", path + ".schedule.cron", &source.cron);
      r.String(*schedule, "timeZone", path + ".schedule.timeZone", &source.time_zone);
      r.String(*schedule, "concurrencyPolicy", path + ".schedule.concurrencyPolicy",
               &source.concurrency_policy);
      r.OptInt(*schedule, "startingDeadlineSeconds", path + ".schedule.startingDeadlineSeconds",
               &source.starting_deadline_seconds);
      trigger.schedule = std::move(source);
    }
    auto secret_ref = [&r](const json& parent, const char* key, const std::string& ref_path,
                           std::optional<SecretKeyRef>* out) {
      if (const json* ref = r.Object(parent, key, ref_path)) {
        SecretKeyRef value;
        r.String(*ref, "name", ref_path + ".name", &value.name);
        r.String(*ref, "key", ref_path + ".key", &value.key);
        *out = std::move(value);
      }
    };
    if (const json* nats = r.Object(t, "nats", path + ".nats")) {
      NatsSource source;
      r.String(*nats, "url", path + ".nats.url", &source.url);
      r.String(*nats, "stream", path + ".nats.stream", &source.stream);
      r.String(*nats, "subject", path + ".nats.subject", &source.subject);
      r.String(*nats, "consumer", path + ".nats.consumer", &source.consumer);
      secret_ref(*nats, "credentialsSecretRef", path + ".nats.credentialsSecretRef",
                 &source.credentials_secret_ref);
      trigger.nats = std::move(source);
    }
    if (const json* redis = r.Object(t, "redis", path + ".redis")) {
      RedisSource source;
      r.String(*redis, "address", path + ".redis.address", &source.address);
      r.String(*redis, "stream", path + ".redis.stream", &source.stream);
      r.String(*redis, "group", path + ".redis.group", &source.group);
      secret_ref(*redis, "passwordSecretRef", path + ".redis.passwordSecretRef", &source.password_secret_ref);
      trigger.redis = std::move(source);
    }
    if (const json* delivery = r.Object(t, "delivery", path + ".delivery")) {
      DeliverySpec& d = trigger.delivery;
      trigger.has_delivery = true;
      r.Int(*delivery, "maxInFlight", path + ".delivery.maxInFlight", &d.max_in_flight);
      r.Int(*delivery, "maxAttempts", path + ".delivery.maxAttempts", &d.max_attempts);
      r.Int(*delivery, "backoffSeconds", path + ".delivery.backoffSeconds", &d.backoff_seconds);
      r.Int(*delivery, "maxBackoffSeconds", path + ".delivery.maxBackoffSeconds", &d.max_backoff_seconds);
      if (const json* dead = r.Object(*delivery, "deadLetter", path + ".delivery.deadLetter")) {
        r.String(*dead, "subject", path + ".delivery.deadLetter.subject", &d.dead_letter_subject);
        r.String(*dead, "stream", path + ".delivery.deadLetter.stream", &d.dead_letter_stream);
      }
    }
    if (trigger.redis && trigger.delivery.dead_letter_stream.empty() &&
        trigger.delivery.dead_letter_subject.empty()) {
      trigger.delivery.dead_letter_stream = trigger.redis->stream + ".dead";
    }
    if (const json* request = r.Object(t, "request", path + ".request")) {
      r.String(*request, "method", path + ".request.method", &trigger.request.method);
      r.String(*request, "path", path + ".request.path", &trigger.request.path);
      r.String(*request, "body", path + ".request.body", &trigger.request.body);
      if (auto headers = request->find("headers"); headers != request->end() && !headers->is_null()) {
        if (!headers->is_array()) {
          r.Fail(path + ".request.headers", "must be an array of {name, value}");
        } else {
          for (size_t h = 0; h < headers->size(); ++h) {
            const json& header = (*headers)[h];
            const std::string header_path = Cat(path, ".request.headers[", h, "]");
            if (!header.is_object()) {
              r.Fail(header_path, "must be an object");
              break;
            }
            std::string name;
            std::string value;
            r.String(header, "name", header_path + ".name", &name);
            r.String(header, "value", header_path + ".value", &value);
            trigger.request.headers.emplace_back(std::move(name), std::move(value));
          }
        }
      }
    }
    out->push_back(std::move(trigger));
  }
}

absl::Status Invalid(std::string_view path, std::string_view why);
absl::Status CheckRange(std::string_view path, int64_t value, int64_t lo, int64_t hi);

absl::Status ValidateTriggerRequest(const std::string& path, const TriggerRequest& req) {
  bool method_ok = !req.method.empty() && req.method.size() <= 16;
  for (char c : req.method) method_ok = method_ok && c >= 'A' && c <= 'Z';
  if (!method_ok) return Invalid(path + ".request.method", "must be an HTTP method in capitals, e.g. POST");
  bool path_ok = req.path.starts_with('/') && req.path.size() <= Bounds::kMaxTriggerPathBytes;
  for (char c : req.path) path_ok = path_ok && c >= 0x21 && c <= 0x7e;
  if (!path_ok) {
    return Invalid(path + ".request.path",
                   Cat("must start with '/' and be printable ASCII without spaces, at most ",
                       Bounds::kMaxTriggerPathBytes, " characters"));
  }
  if (req.headers.size() > Bounds::kMaxTriggerHeaders) {
    return Invalid(path + ".request.headers",
                   Cat("must have at most ", Bounds::kMaxTriggerHeaders, " items"));
  }
  for (size_t h = 0; h < req.headers.size(); ++h) {
    const auto& [name, value] = req.headers[h];
    const std::string header_path = Cat(path, ".request.headers[", h, "]");
    if (!IsHeaderName(name))
      return Invalid(header_path + ".name", "must be 1 to 256 letters, digits and '-'");
    for (size_t j = 0; j < h; ++j) {
      if (req.headers[j].first == name)
        return Invalid(header_path + ".name", Cat("Duplicate value \"", name, "\""));
    }
    if (IsReservedTriggerHeader(name)) return Invalid(header_path, kHeaderReserved);
    bool printable = value.size() <= 4096;
    for (char c : value) printable = printable && c >= 0x20 && c <= 0x7e;
    if (!printable)
      return Invalid(header_path + ".value", "must be printable ASCII, at most 4096 characters");
  }
  if (req.body.size() > Bounds::kMaxTriggerBodyBytes) {
    return Invalid(path + ".request.body", Cat("must be at most ", Bounds::kMaxTriggerBodyBytes, " bytes"));
  }
  return absl::OkStatus();
}

bool IsNatsName(std::string_view name) {
  if (name.empty() || name.size() > Bounds::kMaxBrokerFieldBytes) return false;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// A NATS subject: tokens separated by '.', none empty, no whitespace; with
// `wildcards`, a token may be '*' and the last one '>'.
bool IsNatsSubject(std::string_view subject, bool wildcards) {
  if (subject.empty() || subject.size() > Bounds::kMaxBrokerFieldBytes) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = subject.find('.', start);
    const std::string_view token = subject.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (token.empty()) return false;
    for (char c : token) {
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    const bool wildcard = token.find_first_of("*>") != std::string_view::npos;
    if (wildcard) {
      if (!wildcards || token.size() != 1) return false;
      if (token == ">" && dot != std::string_view::npos) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsNatsUrl(std::string_view urls) {
  if (urls.empty() || urls.size() > Bounds::kMaxBrokerFieldBytes) return false;
  size_t start = 0;
  while (true) {
    const size_t comma = urls.find(',', start);
    const std::string_view url =
        urls.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (!url.starts_with("nats://") && !url.starts_with("tls://")) return false;
    if (url.substr(url.find("://") + 3).empty()) return false;
    for (char c : url) {
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

absl::Status ValidateSecretRef(const std::string& path, const std::optional<SecretKeyRef>& ref) {
  if (!ref) return absl::OkStatus();
  if (ref->name.empty()) return Invalid(path + ".name", "is required");
  if (ref->key.empty()) return Invalid(path + ".key", "is required");
  return absl::OkStatus();
}

absl::Status ValidateNats(const std::string& path, const NatsSource& n, const DeliverySpec& d) {
  if (!IsNatsUrl(n.url)) return Invalid(path + ".nats.url", kNatsUrl);
  if (!IsNatsName(n.stream)) return Invalid(path + ".nats.stream", kNatsName);
  if (!n.subject.empty() && !IsNatsSubject(n.subject, true))
    return Invalid(path + ".nats.subject", kNatsSubject);
  if (!n.consumer.empty() && !IsNatsName(n.consumer)) return Invalid(path + ".nats.consumer", kNatsName);
  if (absl::Status ref = ValidateSecretRef(path + ".nats.credentialsSecretRef", n.credentials_secret_ref);
      !ref.ok())
    return ref;
  if (!IsNatsSubject(d.dead_letter_subject, false)) {
    return Invalid(path + ".delivery.deadLetter.subject",
                   "must be dot-separated tokens of printable characters without spaces or wildcards");
  }
  return absl::OkStatus();
}

absl::Status ValidateRedis(const std::string& path, const RedisSource& r, const DeliverySpec& d) {
  const size_t colon = r.address.rfind(':');
  bool address_ok = !r.address.empty() && r.address.size() <= Bounds::kMaxBrokerFieldBytes &&
                    colon != std::string::npos && colon > 0 && colon + 1 < r.address.size();
  for (size_t i = 0; address_ok && i < r.address.size(); ++i) {
    const char c = r.address[i];
    address_ok = c > 0x20 && c < 0x7f && c != '/';
    if (i > colon) address_ok = address_ok && c >= '0' && c <= '9';
  }
  if (!address_ok) return Invalid(path + ".redis.address", kRedisAddress);
  auto key_ok = [](std::string_view key) {
    return !key.empty() && key.size() <= Bounds::kMaxBrokerFieldBytes &&
           std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  };
  constexpr char kKey[] = "must be 1 to 256 printable characters without spaces";
  if (!key_ok(r.stream)) return Invalid(path + ".redis.stream", kKey);
  if (!r.group.empty() && !key_ok(r.group)) return Invalid(path + ".redis.group", kKey);
  if (absl::Status ref = ValidateSecretRef(path + ".redis.passwordSecretRef", r.password_secret_ref);
      !ref.ok())
    return ref;
  if (!key_ok(d.dead_letter_stream)) return Invalid(path + ".delivery.deadLetter.stream", kKey);
  if (d.dead_letter_stream == r.stream) return Invalid(path, kRedisDeadLetterLoop);
  return absl::OkStatus();
}

absl::Status ValidateDelivery(const std::string& path, const DeliverySpec& d) {
  const std::string p = path + ".delivery.";
  if (absl::Status s = CheckRange(p + "maxInFlight", d.max_in_flight, 1, Bounds::kMaxInFlight); !s.ok())
    return s;
  if (absl::Status s = CheckRange(p + "maxAttempts", d.max_attempts, 1, Bounds::kMaxAttempts); !s.ok())
    return s;
  if (absl::Status s = CheckRange(p + "backoffSeconds", d.backoff_seconds, 0, Bounds::kMaxBackoffSeconds);
      !s.ok())
    return s;
  if (absl::Status s =
          CheckRange(p + "maxBackoffSeconds", d.max_backoff_seconds, 1, Bounds::kMaxBackoffSeconds);
      !s.ok())
    return s;
  return absl::OkStatus();
}

absl::Status ValidateTriggers(const std::vector<TriggerSpec>& triggers) {
  if (triggers.size() > Bounds::kMaxTriggers) {
    return Invalid("spec.triggers", Cat("must have at most ", Bounds::kMaxTriggers, " items"));
  }
  for (size_t i = 0; i < triggers.size(); ++i) {
    const TriggerSpec& t = triggers[i];
    const std::string path = Cat("spec.triggers[", i, "]");
    if (t.name.empty()) return Invalid(path + ".name", "is required");
    if (!IsDns1123Label(t.name)) return Invalid(path + ".name", kTriggerNameNotDnsLabel);
    for (size_t j = 0; j < i; ++j) {
      if (triggers[j].name == t.name) return Invalid(path + ".name", Cat("Duplicate value \"", t.name, "\""));
    }
    const int sources = (t.schedule ? 1 : 0) + (t.nats ? 1 : 0) + (t.redis ? 1 : 0);
    if (sources != 1) return Invalid(path, kTriggerOneSource);
    const bool delivery_ok = t.nats ? t.has_delivery && !t.delivery.dead_letter_subject.empty() &&
                                          t.delivery.dead_letter_stream.empty()
                             : t.redis ? t.delivery.dead_letter_subject.empty()
                                       : !t.has_delivery;
    if (!delivery_ok) return Invalid(path, kTriggerDelivery);
    if (absl::Status request = ValidateTriggerRequest(path, t.request); !request.ok()) return request;
    if (t.nats) {
      if (absl::Status nats = ValidateNats(path, *t.nats, t.delivery); !nats.ok()) return nats;
    }
    if (t.redis) {
      if (absl::Status redis = ValidateRedis(path, *t.redis, t.delivery); !redis.ok()) return redis;
    }
    if (t.nats || t.redis) {
      if (absl::Status delivery = ValidateDelivery(path, t.delivery); !delivery.ok()) return delivery;
      continue;
    }
    const ScheduleSource& s = *t.schedule;
    if (s.cron.empty()) return Invalid(path + ".schedule.cron", "is required");
    if (s.cron.size() > Bounds::kMaxCronBytes) {
      return Invalid(path + ".schedule.cron", Cat("must be at most ", Bounds::kMaxCronBytes, " characters"));
    }
    if (absl::Status c = cron::ValidateCron(s.cron); !c.ok()) {
      return Invalid(path + ".schedule.cron", Cat(kCronSyntax, " (", c.message(), ")"));
    }
    if (absl::Status z = cron::ValidateTimeZone(s.time_zone); !z.ok() || s.time_zone.empty()) {
      return Invalid(path + ".schedule.timeZone", kTimeZoneUnknown);
    }
    if (s.concurrency_policy != "Allow" && s.concurrency_policy != "Forbid" &&
        s.concurrency_policy != "Replace") {
      return Invalid(path + ".schedule.concurrencyPolicy", "must be one of Allow, Forbid, Replace");
    }
    if (s.starting_deadline_seconds) {
      if (absl::Status d = CheckRange(path + ".schedule.startingDeadlineSeconds",
                                      *s.starting_deadline_seconds, 1, Bounds::kMaxStartingDeadlineSeconds);
          !d.ok())
        return d;
    }
  }
  return absl::OkStatus();
}

absl::Status Invalid(std::string_view path, std::string_view why) {
  return absl::InvalidArgumentError(Cat(path, ": ", why));
}

absl::Status CheckRange(std::string_view path, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return Invalid(path, Cat("must be between ", lo, " and ", hi, ", got ", value));
  }
  return absl::OkStatus();
}

bool IsEnvVarName(std::string_view name) {
  // Kubernetes accepts any printable ASCII except '=' (its relaxed rule, the
  // default since 1.34); so does the CRD's pattern '^[ -<>-~]+$'.
  if (name.empty()) return false;
  for (char c : name) {
    if (c < 0x20 || c > 0x7e || c == '=') return false;
  }
  return true;
}

// Printable ASCII without spaces, as the CRD's pattern '^[!-~]+$': an image
// reference never holds anything else, and Kubernetes would let a space
// inside one through to a pull that cannot succeed.
bool IsImage(std::string_view image) {
  if (image.empty()) return false;
  for (char c : image) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

bool IsDns1035Label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!lower(name.front()) || name.back() == '-') return false;
  for (char c : name) {
    if (!lower(c) && !digit(c) && c != '-') return false;
  }
  return true;
}

// A quantity as the CRD types it: a string of the pattern, or an integer,
// and not negative.
absl::Status CheckQuantity(std::string_view path, std::string_view text) {
  const std::optional<double> q = ParseQuantity(text);
  if (!q) return Invalid(path, Cat("\"", text, "\" is not a quantity such as \"128Mi\" or \"500m\""));
  // "-0" too: the CRD's pattern has no '-' at all.
  if (*q < 0 || text.starts_with('-')) return Invalid(path, "must not be negative");
  return absl::OkStatus();
}

// One string field of a valueFrom source that the CRD marks required and
// non-empty.
absl::Status CheckRequiredString(const json& ref, const char* key, const std::string& path) {
  auto it = ref.find(key);
  if (it == ref.end() || it->is_null()) return Invalid(Cat(path, ".", key), "is required");
  if (!it->is_string()) return Invalid(Cat(path, ".", key), "must be a string");
  if (it->get_ref<const std::string&>().empty()) return Invalid(Cat(path, ".", key), "must not be empty");
  return absl::OkStatus();
}

absl::Status CheckOptional(const json& ref, const char* key, const std::string& path, bool boolean) {
  auto it = ref.find(key);
  if (it == ref.end() || it->is_null()) return absl::OkStatus();
  if (boolean ? !it->is_boolean() : !it->is_string()) {
    return Invalid(Cat(path, ".", key), boolean ? "must be a boolean" : "must be a string");
  }
  return absl::OkStatus();
}

// env[].valueFrom as the CRD types it: exactly one of the four sources a
// container's env accepts, each with its required fields. Kubernetes refuses
// a Deployment whose valueFrom names none ("valueFrom: {}"), so the Function
// is refused before it gets that far. Unknown fields are the apiserver's to
// prune; they are ignored here as everywhere in the decoder.
absl::Status ValidateValueFrom(const json& from, const std::string& path) {
  if (!from.is_object()) return Invalid(path, "must be an object");
  struct Source {
    const char* name;
    std::vector<const char*> required;
    std::vector<const char*> optional_strings;
    const char* optional_boolean;
  };
  static const Source kSources[] = {
      {"fieldRef", {"fieldPath"}, {"apiVersion"}, nullptr},
      {"resourceFieldRef", {"resource"}, {"containerName"}, nullptr},
      {"configMapKeyRef", {"name", "key"}, {}, "optional"},
      {"secretKeyRef", {"name", "key"}, {}, "optional"},
  };
  int sources = 0;
  for (const Source& source : kSources) {
    auto it = from.find(source.name);
    if (it == from.end() || it->is_null()) continue;
    ++sources;
    const std::string source_path = Cat(path, ".", source.name);
    if (!it->is_object()) return Invalid(source_path, "must be an object");
    for (const char* key : source.required) {
      if (absl::Status s = CheckRequiredString(*it, key, source_path); !s.ok()) return s;
    }
    for (const char* key : source.optional_strings) {
      if (absl::Status s = CheckOptional(*it, key, source_path, false); !s.ok()) return s;
    }
    if (source.optional_boolean != nullptr) {
      if (absl::Status s = CheckOptional(*it, source.optional_boolean, source_path, true); !s.ok()) return s;
    }
    if (auto divisor = it->find("divisor");
        std::string_view(source.name) == "resourceFieldRef" && divisor != it->end() && !divisor->is_null()) {
      const std::string divisor_path = source_path + ".divisor";
      if (divisor->is_number_integer()) {
        if (absl::Status s = CheckQuantity(divisor_path, divisor->dump()); !s.ok()) return s;
      } else if (divisor->is_string()) {
        if (absl::Status s = CheckQuantity(divisor_path, divisor->get<std::string>()); !s.ok()) return s;
      } else {
        return Invalid(divisor_path, "must be a quantity such as \"1m\" or \"1Mi\"");
      }
    }
  }
  if (sources != 1) return Invalid(path, kValueFromOneSource);
  return absl::OkStatus();
}

// The pod settings against the CRD's own schema, then the one rule that
// spans two of them (a CEL rule on spec).
absl::Status ValidatePodSettings(const json& pod) {
  const json& properties = CrdSpecProperties();
  for (const char* field : kPodSettingFields) {
    auto it = pod.find(field);
    if (it == pod.end() || it->is_null()) continue;
    if (!properties.contains(field))
      return absl::InternalError(Cat("spec.", field, ": not in the embedded CRD"));
    if (absl::Status s = CheckSchema(properties[field], *it, Cat("spec.", field)); !s.ok()) return s;
  }
  auto mounts = pod.find("volumeMounts");
  if (mounts == pod.end() || !mounts->is_array()) return absl::OkStatus();
  std::set<std::string> volumes;
  if (auto v = pod.find("volumes"); v != pod.end() && v->is_array()) {
    for (const json& volume : *v) volumes.insert(volume.value("name", ""));
  }
  for (size_t i = 0; i < mounts->size(); ++i) {
    if (!volumes.contains((*mounts)[i].value("name", ""))) {
      return Invalid(Cat("spec.volumeMounts[", i, "].name"), kMountNamesAVolume);
    }
  }
  return absl::OkStatus();
}

}  // namespace

const Condition* FunctionStatus::FindCondition(std::string_view type) const {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

FunctionStatus DecodeFunctionStatus(const json& s) {
  FunctionStatus status;
  if (!s.is_object()) return status;
  status.observed_generation = s.value("observedGeneration", int64_t{0});
  status.replicas = s.value("replicas", 0);
  status.ready_replicas = s.value("readyReplicas", 0);
  status.desired_replicas = s.value("desiredReplicas", 0);
  status.replica_summary = s.value("replicaSummary", "");
  status.url = s.value("url", "");
  if (auto it = s.find("lastRequestTime"); it != s.end() && it->is_string()) {
    status.last_request_time = it->get<std::string>();
  }
  if (auto it = s.find("lastScaleTime"); it != s.end() && it->is_string()) {
    status.last_scale_time = it->get<std::string>();
  }
  if (auto it = s.find("conditions"); it != s.end() && it->is_array()) {
    for (const auto& c : *it) {
      if (!c.is_object()) continue;
      Condition cond;
      cond.type = c.value("type", "");
      cond.status = c.value("status", "");
      cond.reason = c.value("reason", "");
      cond.message = c.value("message", "");
      cond.last_transition_time = c.value("lastTransitionTime", "");
      cond.observed_generation = c.value("observedGeneration", int64_t{0});
      status.conditions.push_back(std::move(cond));
    }
  }
  return status;
}

absl::StatusOr<Function> DecodeFunction(const json& object) {
  if (!object.is_object()) return absl::InvalidArgumentError("Function: must be a JSON object");
  Function fn;
  if (auto it = object.find("metadata"); it != object.end()) fn.metadata = DecodeObjectMeta(*it);
  Reader r;
  const json empty = json::object();
  const json* spec = r.Object(object, "spec", "spec");
  if (spec == nullptr) spec = &empty;
  FunctionSpec& out = fn.spec;
  r.String(*spec, "image", "spec.image", &out.image);
  r.Strings(*spec, "command", "spec.command", &out.command);
  r.Strings(*spec, "args", "spec.args", &out.args);
  if (auto it = spec->find("env"); it != spec->end() && !it->is_null()) {
    if (!it->is_array()) {
      r.Fail("spec.env", "must be an array");
    } else {
      for (size_t i = 0; i < it->size(); ++i) {
        const json& e = (*it)[i];
        const std::string path = Cat("spec.env[", i, "]");
        if (!e.is_object()) {
          r.Fail(path, "must be an object");
          break;
        }
        EnvVar var;
        r.String(e, "name", path + ".name", &var.name);
        r.OptString(e, "value", path + ".value", &var.value);
        if (auto vf = e.find("valueFrom"); vf != e.end() && !vf->is_null()) var.value_from = *vf;
        out.env.push_back(std::move(var));
      }
    }
  }
  r.Int(*spec, "port", "spec.port", &out.port);
  if (const json* res = r.Object(*spec, "resources", "spec.resources")) {
    ReadResourceList(r, res, "requests", "spec.resources.requests", &out.resources.requests);
    ReadResourceList(r, res, "limits", "spec.resources.limits", &out.resources.limits);
  }
  r.Int(*spec, "timeoutSeconds", "spec.timeoutSeconds", &out.timeout_seconds);
  if (const json* sc = r.Object(*spec, "scaling", "spec.scaling")) {
    r.Int(*sc, "minReplicas", "spec.scaling.minReplicas", &out.scaling.min_replicas);
    r.Int(*sc, "maxReplicas", "spec.scaling.maxReplicas", &out.scaling.max_replicas);
    r.Int(*sc, "targetConcurrency", "spec.scaling.targetConcurrency", &out.scaling.target_concurrency);
    r.Int(*sc, "maxConcurrency", "spec.scaling.maxConcurrency", &out.scaling.max_concurrency);
    r.Int(*sc, "scaleToZeroAfterSeconds", "spec.scaling.scaleToZeroAfterSeconds",
          &out.scaling.scale_to_zero_after_seconds);
  }
  if (const json* buf = r.Object(*spec, "buffer", "spec.buffer")) {
    r.Int(*buf, "maxRequests", "spec.buffer.maxRequests", &out.buffer.max_requests);
    r.Int(*buf, "timeoutSeconds", "spec.buffer.timeoutSeconds", &out.buffer.timeout_seconds);
  }
  const json& properties = CrdSpecProperties();
  for (const char* field : kPodSettingFields) {
    auto it = spec->find(field);
    if (it == spec->end() || it->is_null()) continue;
    out.pod[field] = properties.contains(field) ? PruneToSchema(properties[field], *it) : *it;
  }
  ReadTriggers(r, *spec, &out.triggers);
  if (!r.status().ok()) return r.status();
  if (auto it = object.find("status"); it != object.end()) {
    fn.status = DecodeFunctionStatus(*it);
    fn.trigger_statuses = DecodeTriggerStatuses(*it);
  }
  return fn;
}

absl::Status ValidateFunctionSpec(const FunctionSpec& spec) {
  if (spec.image.empty()) return Invalid("spec.image", "is required");
  if (!IsImage(spec.image)) {
    return Invalid("spec.image",
                   "must be printable ASCII without spaces, e.g. registry.example/acme/holidays:1.2");
  }
  for (size_t i = 0; i < spec.env.size(); ++i) {
    const EnvVar& e = spec.env[i];
    const std::string path = Cat("spec.env[", i, "]");
    if (!IsEnvVarName(e.name)) {
      return Invalid(path + ".name", "must be non-empty printable ASCII characters except '='");
    }
    if (e.value.has_value() && !e.value_from.is_null()) return Invalid(path, kEnvValueOrValueFrom);
    if (!e.value_from.is_null()) {
      if (absl::Status s = ValidateValueFrom(e.value_from, path + ".valueFrom"); !s.ok()) return s;
    }
  }
  if (absl::Status s = CheckRange("spec.port", spec.port, 1, 65535); !s.ok()) return s;
  const ResourceList& requests = spec.resources.requests;
  const ResourceList& limits = spec.resources.limits;
  for (const auto& [path, value] : {std::pair{"spec.resources.requests.cpu", requests.cpu},
                                    std::pair{"spec.resources.requests.memory", requests.memory},
                                    std::pair{"spec.resources.limits.cpu", limits.cpu},
                                    std::pair{"spec.resources.limits.memory", limits.memory}}) {
    if (!value) continue;
    if (absl::Status s = CheckQuantity(path, *value); !s.ok()) return s;
  }
  // Kubernetes refuses a container whose request exceeds its limit; the
  // comparison is exact, as the CRD's CEL quantity() makes it.
  for (const auto& [request, limit, message] :
       {std::tuple{requests.cpu, limits.cpu, kCpuRequestAboveLimit},
        std::tuple{requests.memory, limits.memory, kMemoryRequestAboveLimit}}) {
    if (request && limit && CompareQuantities(*request, *limit) > 0)
      return Invalid("spec.resources", message);
  }
  if (absl::Status s = CheckRange("spec.timeoutSeconds", spec.timeout_seconds, 1, Bounds::kMaxTimeoutSeconds);
      !s.ok())
    return s;
  const ScalingSpec& sc = spec.scaling;
  if (absl::Status s = CheckRange("spec.scaling.minReplicas", sc.min_replicas, 0, Bounds::kMaxReplicasCap);
      !s.ok())
    return s;
  if (absl::Status s = CheckRange("spec.scaling.maxReplicas", sc.max_replicas, 1, Bounds::kMaxReplicasCap);
      !s.ok())
    return s;
  if (sc.min_replicas > sc.max_replicas) {
    return Invalid("spec.scaling", "minReplicas must be less than or equal to maxReplicas");
  }
  if (absl::Status s = CheckRange("spec.scaling.targetConcurrency", sc.target_concurrency, 1,
                                  Bounds::kMaxTargetConcurrency);
      !s.ok())
    return s;
  if (absl::Status s =
          CheckRange("spec.scaling.maxConcurrency", sc.max_concurrency, 0, Bounds::kMaxTargetConcurrency);
      !s.ok())
    return s;
  if (sc.max_concurrency > 0 && sc.target_concurrency > sc.max_concurrency) {
    return Invalid("spec.scaling",
                   "targetConcurrency must not exceed maxConcurrency when maxConcurrency is set");
  }
  if (absl::Status s = CheckRange("spec.scaling.scaleToZeroAfterSeconds", sc.scale_to_zero_after_seconds, 1,
                                  Bounds::kMaxScaleToZeroAfterSeconds);
      !s.ok())
    return s;
  if (absl::Status s =
          CheckRange("spec.buffer.maxRequests", spec.buffer.max_requests, 1, Bounds::kMaxBufferRequests);
      !s.ok())
    return s;
  if (absl::Status s = CheckRange("spec.buffer.timeoutSeconds", spec.buffer.timeout_seconds, 1,
                                  Bounds::kMaxBufferTimeoutSeconds);
      !s.ok())
    return s;
  if (absl::Status s = ValidatePodSettings(spec.pod); !s.ok()) return s;
  return ValidateTriggers(spec.triggers);
}

absl::Status ValidateFunctionName(std::string_view name) {
  if (name.empty()) return Invalid("metadata.name", "is required");
  if (!IsDns1035Label(name)) return Invalid("metadata.name", kNameNotDns1035Label);
  return absl::OkStatus();
}

absl::Status ValidateFunction(const Function& fn) {
  if (absl::Status s = ValidateFunctionName(fn.metadata.name); !s.ok()) return s;
  return ValidateFunctionSpec(fn.spec);
}

absl::Status ValidateFunctionObject(const json& object) {
  absl::StatusOr<Function> fn = DecodeFunction(object);
  if (!fn.ok()) return fn.status();
  return ValidateFunction(*fn);
}

json EncodeFunctionSpec(const FunctionSpec& spec) {
  json out = {{"image", spec.image}, {"port", spec.port}, {"timeoutSeconds", spec.timeout_seconds}};
  if (!spec.command.empty()) out["command"] = spec.command;
  if (!spec.args.empty()) out["args"] = spec.args;
  if (!spec.env.empty()) {
    json env = json::array();
    for (const auto& e : spec.env) {
      json var = {{"name", e.name}};
      if (e.value) var["value"] = *e.value;
      if (!e.value_from.is_null()) var["valueFrom"] = e.value_from;
      env.push_back(std::move(var));
    }
    out["env"] = std::move(env);
  }
  json resources = json::object();
  json requests = EncodeResourceList(spec.resources.requests);
  json limits = EncodeResourceList(spec.resources.limits);
  if (!requests.empty()) resources["requests"] = requests;
  if (!limits.empty()) resources["limits"] = limits;
  if (!resources.empty()) out["resources"] = resources;
  out["scaling"] = {{"minReplicas", spec.scaling.min_replicas},
                    {"maxReplicas", spec.scaling.max_replicas},
                    {"targetConcurrency", spec.scaling.target_concurrency},
                    {"maxConcurrency", spec.scaling.max_concurrency},
                    {"scaleToZeroAfterSeconds", spec.scaling.scale_to_zero_after_seconds}};
  out["buffer"] = {{"maxRequests", spec.buffer.max_requests},
                   {"timeoutSeconds", spec.buffer.timeout_seconds}};
  for (auto it = spec.pod.begin(); it != spec.pod.end(); ++it) out[it.key()] = it.value();
  if (!spec.triggers.empty()) {
    json triggers = json::array();
    for (const TriggerSpec& t : spec.triggers) {
      json trigger = {{"name", t.name}};
      if (t.schedule) {
        trigger["schedule"] = {{"cron", t.schedule->cron},
                               {"timeZone", t.schedule->time_zone},
                               {"concurrencyPolicy", t.schedule->concurrency_policy}};
        if (t.schedule->starting_deadline_seconds) {
          trigger["schedule"]["startingDeadlineSeconds"] = *t.schedule->starting_deadline_seconds;
        }
      }
      auto secret_ref = [](const SecretKeyRef& ref) { return json{{"name", ref.name}, {"key", ref.key}}; };
      if (t.nats) {
        json nats = {{"url", t.nats->url}, {"stream", t.nats->stream}};
        if (!t.nats->subject.empty()) nats["subject"] = t.nats->subject;
        if (!t.nats->consumer.empty()) nats["consumer"] = t.nats->consumer;
        if (t.nats->credentials_secret_ref)
          nats["credentialsSecretRef"] = secret_ref(*t.nats->credentials_secret_ref);
        trigger["nats"] = std::move(nats);
      }
      if (t.redis) {
        json redis = {{"address", t.redis->address}, {"stream", t.redis->stream}};
        if (!t.redis->group.empty()) redis["group"] = t.redis->group;
        if (t.redis->password_secret_ref)
          redis["passwordSecretRef"] = secret_ref(*t.redis->password_secret_ref);
        trigger["redis"] = std::move(redis);
      }
      if (t.has_delivery) {
        const DeliverySpec& d = t.delivery;
        json delivery = {{"maxInFlight", d.max_in_flight},
                         {"maxAttempts", d.max_attempts},
                         {"backoffSeconds", d.backoff_seconds},
                         {"maxBackoffSeconds", d.max_backoff_seconds}};
        if (!d.dead_letter_subject.empty()) delivery["deadLetter"]["subject"] = d.dead_letter_subject;
        if (!d.dead_letter_stream.empty()) delivery["deadLetter"]["stream"] = d.dead_letter_stream;
        trigger["delivery"] = std::move(delivery);
      }
      json request = {{"method", t.request.method}, {"path", t.request.path}};
      if (!t.request.headers.empty()) {
        json headers = json::array();
        for (const auto& [name, value] : t.request.headers)
          headers.push_back({{"name", name}, {"value", value}});
        request["headers"] = std::move(headers);
      }
      if (!t.request.body.empty()) request["body"] = t.request.body;
      trigger["request"] = std::move(request);
      triggers.push_back(std::move(trigger));
    }
    out["triggers"] = std::move(triggers);
  }
  return out;
}

json EncodeFunctionStatus(const FunctionStatus& s) {
  json out = {{"observedGeneration", s.observed_generation},
              {"replicas", s.replicas},
              {"readyReplicas", s.ready_replicas},
              {"desiredReplicas", s.desired_replicas}};
  if (!s.replica_summary.empty()) out["replicaSummary"] = s.replica_summary;
  if (!s.url.empty()) out["url"] = s.url;
  if (s.last_request_time) out["lastRequestTime"] = *s.last_request_time;
  if (s.last_scale_time) out["lastScaleTime"] = *s.last_scale_time;
  json conditions = json::array();
  for (const auto& c : s.conditions) {
    conditions.push_back({{"type", c.type},
                          {"status", c.status},
                          {"reason", c.reason},
                          {"message", c.message},
                          {"lastTransitionTime", c.last_transition_time},
                          {"observedGeneration", c.observed_generation}});
  }
  out["conditions"] = std::move(conditions);
  return out;
}

json EncodeFunction(const Function& fn) {
  return {{"apiVersion", kApiVersion},
          {"kind", kKind},
          {"metadata", EncodeObjectMeta(fn.metadata)},
          {"spec", EncodeFunctionSpec(fn.spec)},
          {"status", EncodeFunctionStatus(fn.status)}};
}

std::vector<TriggerStatus> DecodeTriggerStatuses(const json& status) {
  std::vector<TriggerStatus> out;
  if (!status.is_object()) return out;
  auto it = status.find("triggers");
  if (it == status.end() || !it->is_array()) return out;
  for (const json& t : *it) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) continue;
    TriggerStatus s;
    s.name = t["name"].get<std::string>();
    auto opt = [&t](const char* key) -> std::optional<std::string> {
      auto f = t.find(key);
      if (f == t.end() || !f->is_string()) return std::nullopt;
      return f->get<std::string>();
    };
    auto count = [&t](const char* key) -> int64_t {
      auto f = t.find(key);
      return f != t.end() && f->is_number_integer() ? f->get<int64_t>() : 0;
    };
    s.start_time = opt("startTime");
    s.last_missed_time = opt("lastMissedTime");
    s.last_schedule_time = opt("lastScheduleTime");
    s.last_successful_time = opt("lastSuccessfulTime");
    s.active_tick = opt("activeTick");
    s.active_holder = opt("activeHolder").value_or("");
    s.fired = count("fired");
    s.succeeded = count("succeeded");
    s.failed = count("failed");
    s.missed = count("missed");
    s.interrupted = count("interrupted");
    s.last_fire_time = opt("lastFireTime");
    s.dead_lettered = count("deadLettered");
    if (auto f = t.find("pending"); f != t.end() && f->is_number_integer()) s.pending = f->get<int64_t>();
    s.connected = opt("connected").value_or("");
    s.reason = opt("reason").value_or("");
    s.message = opt("message").value_or("");
    out.push_back(std::move(s));
  }
  return out;
}

json EncodeTriggerStatuses(const std::vector<TriggerStatus>& triggers) {
  json out = json::array();
  for (const TriggerStatus& s : triggers) {
    json t = {{"name", s.name},     {"fired", s.fired},   {"succeeded", s.succeeded},
              {"failed", s.failed}, {"missed", s.missed}, {"interrupted", s.interrupted}};
    if (s.start_time) t["startTime"] = *s.start_time;
    if (s.last_missed_time) t["lastMissedTime"] = *s.last_missed_time;
    if (s.last_schedule_time) t["lastScheduleTime"] = *s.last_schedule_time;
    if (s.last_successful_time) t["lastSuccessfulTime"] = *s.last_successful_time;
    if (s.active_tick) {
      t["activeTick"] = *s.active_tick;
      t["activeHolder"] = s.active_holder;
    }
    if (s.last_fire_time) t["lastFireTime"] = *s.last_fire_time;
    if (s.dead_lettered != 0) t["deadLettered"] = s.dead_lettered;
    if (s.pending) t["pending"] = *s.pending;
    if (!s.connected.empty()) t["connected"] = s.connected;
    if (!s.reason.empty()) t["reason"] = s.reason;
    if (!s.message.empty()) t["message"] = s.message;
    out.push_back(std::move(t));
  }
  return out;
}

bool IsReservedTriggerHeader(std::string_view name) {
  const std::string lower = AsciiLower(name);
  return lower == "host" || lower == "content-length" || lower == "transfer-encoding" ||
         lower == "connection" || lower.starts_with("x-zeroscale-");
}

std::string BrokerConsumerName(std::string_view ns, std::string_view function, const TriggerSpec& trigger) {
  if (trigger.nats && !trigger.nats->consumer.empty()) return trigger.nats->consumer;
  if (trigger.redis && !trigger.redis->group.empty()) return trigger.redis->group;
  return Cat("zeroscale-", ns, "-", function, "-", trigger.name);
}

std::optional<double> MemoryRequestBytes(const FunctionSpec& spec) {
  if (!spec.resources.requests.memory) return std::nullopt;
  return ParseQuantity(*spec.resources.requests.memory);
}

}  // namespace zs::api
