#include "common/api/crd_schema.h"

#include <cmath>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <set>

#include "common/strings.h"
#include "common/yaml.h"

namespace zs::api {
namespace internal {
// deploy/crds/zeroscale.dev_functions.yaml, written by CMake (crd_text.cc).
extern const unsigned char kCrdYaml[];
extern const size_t kCrdYamlSize;
}  // namespace internal

namespace {

using nlohmann::json;

absl::Status Invalid(std::string_view path, std::string_view why) {
  return absl::InvalidArgumentError(Cat(path, ": ", why));
}

bool Has(const json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && !it->is_null();
}

std::string StringOr(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

size_t SizeOf(const json& object, const char* key) {
  if (!Has(object, key)) return 0;
  const json& v = object.at(key);
  return v.is_array() || v.is_object() || v.is_string() ? v.size() : 0;
}

bool IsTrue(const json& object, const char* key) {
  return Has(object, key) && object.at(key).is_boolean() && object.at(key).get<bool>();
}

bool IsFalse(const json& object, const char* key) {
  return Has(object, key) && object.at(key).is_boolean() && !object.at(key).get<bool>();
}

// std::regex compiled once per pattern. The CRD's patterns are written in the
// part of the syntax where ECMAScript and RE2 (the apiserver's) agree.
bool Search(const std::string& pattern, const std::string& text) {
  static std::mutex mu;
  static std::map<std::string, std::regex>* cache = new std::map<std::string, std::regex>();
  const std::regex* re = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache->find(pattern);
    if (it == cache->end()) it = cache->emplace(pattern, std::regex(pattern)).first;
    re = &it->second;
  }
  return std::regex_search(text, *re);
}

constexpr char kQualifiedName[] =
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
    ")?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";

bool RelativeWithoutDotDot(const json& self) {
  if (!self.is_string()) return false;
  const std::string& path = self.get_ref<const std::string&>();
  if (path.starts_with('/')) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (path.substr(start, slash == std::string::npos ? std::string::npos : slash - start) == "..")
      return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

bool KeysAll(const json& self, const std::function<bool(const std::string&)>& ok) {
  if (!self.is_object()) return false;
  for (auto it = self.begin(); it != self.end(); ++it) {
    if (!ok(it.key())) return false;
  }
  return true;
}

// The C++ twin of each CEL rule of the pod settings, by the rule's message.
// Each returns true when `self` passes, as the rule's expression would.
const std::map<std::string, std::function<bool(const json&)>, std::less<>>& CelTwins() {
  static const auto* twins = new std::map<std::string, std::function<bool(const json&)>, std::less<>>{
      {"operator must be Exists when key is empty",
       [](const json& t) { return !StringOr(t, "key").empty() || StringOr(t, "operator") == "Exists"; }},
      {"value must be empty when operator is Exists",
       [](const json& t) { return StringOr(t, "operator") != "Exists" || StringOr(t, "value").empty(); }},
      {"effect must be NoExecute when tolerationSeconds is set",
       [](const json& t) { return !Has(t, "tolerationSeconds") || StringOr(t, "effect") == "NoExecute"; }},
      {"values must be non-empty for In and NotIn, empty for Exists and DoesNotExist, and exactly one for Gt "
       "and "
       "Lt",
       [](const json& r) {
         const std::string op = StringOr(r, "operator");
         if (op == "In" || op == "NotIn") return SizeOf(r, "values") > 0;
         if (op == "Exists" || op == "DoesNotExist") return SizeOf(r, "values") == 0;
         return SizeOf(r, "values") == 1;
       }},
      {"values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
       [](const json& r) {
         const std::string op = StringOr(r, "operator");
         return op == "In" || op == "NotIn" ? SizeOf(r, "values") > 0 : SizeOf(r, "values") == 0;
       }},
      {"must set exactly one of configMapRef and secretRef",
       [](const json& e) { return Has(e, "configMapRef") + Has(e, "secretRef") == 1; }},
      {"must set exactly one of secret and configMap",
       [](const json& v) { return Has(v, "secret") + Has(v, "configMap") == 1; }},
      {"must be a relative path without '..' elements", RelativeWithoutDotDot},
      {"must be true; Secret and ConfigMap volumes are mounted read-only",
       [](const json& b) { return b.is_boolean() && b.get<bool>(); }},
      {"must not set zeroscale.dev/*, app.kubernetes.io/managed-by or app.kubernetes.io/name, which "
       "zeroscale sets",
       [](const json& labels) {
         return KeysAll(labels, [](const std::string& k) {
           return !k.starts_with("zeroscale.dev/") && k != "app.kubernetes.io/managed-by" &&
                  k != "app.kubernetes.io/name";
         });
       }},
      {"must not set zeroscale.dev/*, which zeroscale reserves",
       [](const json& annotations) {
         return KeysAll(annotations, [](const std::string& k) { return !k.starts_with("zeroscale.dev/"); });
       }},
      {"keys must be qualified names: an optional DNS subdomain and '/', then at most 63 letters, digits, "
       "'-', "
       "'_' and '.', starting and ending with a letter or digit",
       [](const json& map) {
         return KeysAll(map,
                        [](const std::string& k) { return k.size() <= 317 && Search(kQualifiedName, k); });
       }},
      {"localhostProfile must be set with type Localhost, and only then",
       [](const json& p) {
         return StringOr(p, "type") == "Localhost" ? !StringOr(p, "localhostProfile").empty()
                                                   : !Has(p, "localhostProfile");
       }},
      {"cannot set allowPrivilegeEscalation to false and privileged to true",
       [](const json& c) { return !(IsTrue(c, "privileged") && IsFalse(c, "allowPrivilegeEscalation")); }},
      {"cannot set allowPrivilegeEscalation to false and add capability SYS_ADMIN",
       [](const json& c) {
         bool sys_admin = false;
         if (Has(c, "capabilities") && Has(c.at("capabilities"), "add") &&
             c["capabilities"]["add"].is_array()) {
           for (const json& cap : c["capabilities"]["add"]) {
             sys_admin = sys_admin || cap == "SYS_ADMIN" || cap == "CAP_SYS_ADMIN";
           }
         }
         return !(sys_admin && IsFalse(c, "allowPrivilegeEscalation"));
       }},
  };
  return *twins;
}

// Characters, as the apiserver counts a string's length.
size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// As the apiserver reads JSON: 2.0 is the integer 2.
bool IsInteger(const json& v) {
  if (v.is_number_integer()) return true;
  return v.is_number_float() && std::isfinite(v.get<double>()) &&
         std::trunc(v.get<double>()) == v.get<double>();
}

std::string JoinEnum(const json& values) {
  std::string out;
  for (const json& v : values) {
    if (!out.empty()) out += ", ";
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

const std::set<std::string, std::less<>>& KnownKeywords() {
  static const auto* known = new std::set<std::string, std::less<>>{"type",
                                                                    "format",
                                                                    "description",
                                                                    "properties",
                                                                    "required",
                                                                    "items",
                                                                    "enum",
                                                                    "minimum",
                                                                    "maximum",
                                                                    "minLength",
                                                                    "maxLength",
                                                                    "minItems",
                                                                    "maxItems",
                                                                    "pattern",
                                                                    "maxProperties",
                                                                    "additionalProperties",
                                                                    "x-kubernetes-validations",
                                                                    "x-kubernetes-list-type",
                                                                    "x-kubernetes-list-map-keys"};
  return *known;
}

}  // namespace

const json& CrdSpecSchema() {
  static const json* schema = [] {
    auto* out = new json(json::object());
    const std::string_view text(reinterpret_cast<const char*>(internal::kCrdYaml), internal::kCrdYamlSize);
    auto docs = YamlToJson(text);
    if (!docs.ok() || docs->size() != 1) return out;
    const json::json_pointer pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec");
    if ((*docs)[0].contains(pointer)) *out = (*docs)[0].at(pointer);
    return out;
  }();
  return *schema;
}

const json& CrdSpecProperties() {
  static const json* properties = [] {
    const json& schema = CrdSpecSchema();
    auto it = schema.find("properties");
    return it != schema.end() && it->is_object() ? &*it : new json(json::object());
  }();
  return *properties;
}

bool IsUnderstoodKeyword(std::string_view keyword) { return KnownKeywords().contains(keyword); }

absl::Status CheckSchema(const json& schema, const json& value, const std::string& path) {
  if (!schema.is_object()) return absl::InternalError(Cat(path, ": no schema"));
  for (auto it = schema.begin(); it != schema.end(); ++it) {
    if (!IsUnderstoodKeyword(it.key())) {
      return absl::InternalError(
          Cat(path, ": schema keyword ", it.key(), " is not understood by CheckSchema"));
    }
  }
  const std::string type = schema.value("type", "");
  if (type == "object") {
    if (!value.is_object()) return Invalid(path, "must be an object");
    if (auto req = schema.find("required"); req != schema.end()) {
      for (const json& name : *req) {
        if (!Has(value, name.get<std::string>().c_str()))
          return Invalid(Cat(path, ".", name.get<std::string>()), "is required");
      }
    }
    if (auto max = schema.find("maxProperties"); max != schema.end() && value.size() > max->get<size_t>())
      return Invalid(path, Cat("must have at most ", max->get<size_t>(), " entries"));
    const json* properties = schema.contains("properties") ? &schema["properties"] : nullptr;
    const json* additional =
        schema.contains("additionalProperties") ? &schema["additionalProperties"] : nullptr;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it->is_null()) continue;
      const json* field_schema = nullptr;
      if (properties != nullptr && properties->contains(it.key())) {
        field_schema = &(*properties)[it.key()];
      } else if (additional != nullptr) {
        field_schema = additional;
      }
      if (field_schema == nullptr) continue;  // pruned by the apiserver
      const std::string field_path = additional != nullptr && field_schema == additional
                                         ? Cat(path, "[", it.key(), "]")
                                         : Cat(path, ".", it.key());
      if (absl::Status s = CheckSchema(*field_schema, *it, field_path); !s.ok()) return s;
    }
  } else if (type == "array") {
    if (!value.is_array()) return Invalid(path, "must be an array");
    if (auto min = schema.find("minItems"); min != schema.end() && value.size() < min->get<size_t>())
      return Invalid(path, Cat("must have at least ", min->get<size_t>(), " items"));
    if (auto max = schema.find("maxItems"); max != schema.end() && value.size() > max->get<size_t>())
      return Invalid(path, Cat("must have at most ", max->get<size_t>(), " items"));
    if (auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = 0; i < value.size(); ++i) {
        if (absl::Status s = CheckSchema(*items, value[i], Cat(path, "[", i, "]")); !s.ok()) return s;
      }
    }
    if (schema.value("x-kubernetes-list-type", "") == "map") {
      const json keys = schema.value("x-kubernetes-list-map-keys", json::array());
      std::set<std::string> seen;
      for (size_t i = 0; i < value.size(); ++i) {
        json key = json::array();
        for (const json& k : keys) key.push_back(value[i].value(k.get<std::string>(), json()));
        if (!seen.insert(key.dump()).second) {
          return Invalid(Cat(path, "[", i, "]"),
                         Cat("Duplicate value ", key.size() == 1 ? key[0].dump() : key.dump()));
        }
      }
    }
  } else if (type == "string") {
    if (!value.is_string()) return Invalid(path, "must be a string");
    const std::string& s = value.get_ref<const std::string&>();
    if (auto min = schema.find("minLength"); min != schema.end() && CodePoints(s) < min->get<size_t>())
      return Invalid(path, Cat("must be at least ", min->get<size_t>(), " characters"));
    if (auto max = schema.find("maxLength"); max != schema.end() && CodePoints(s) > max->get<size_t>())
      return Invalid(path, Cat("must be at most ", max->get<size_t>(), " characters"));
    if (auto pattern = schema.find("pattern");
        pattern != schema.end() && !Search(pattern->get<std::string>(), s))
      return Invalid(path, Cat("must match '", pattern->get<std::string>(), "'"));
  } else if (type == "integer") {
    if (!IsInteger(value)) return Invalid(path, "must be an integer");
    const double v = value.get<double>();
    if (auto min = schema.find("minimum"); min != schema.end() && v < min->get<double>())
      return Invalid(path, Cat("must be greater than or equal to ", min->get<int64_t>()));
    if (auto max = schema.find("maximum"); max != schema.end() && v > max->get<double>())
      return Invalid(path, Cat("must be less than or equal to ", max->get<int64_t>()));
  } else if (type == "boolean") {
    if (!value.is_boolean()) return Invalid(path, "must be a boolean");
  } else {
    return absl::InternalError(Cat(path, ": schema type \"", type, "\" is not understood by CheckSchema"));
  }
  if (auto values = schema.find("enum"); values != schema.end()) {
    bool found = false;
    for (const json& v : *values) found = found || v == value;
    if (!found) return Invalid(path, Cat("must be one of ", JoinEnum(*values)));
  }
  if (auto rules = schema.find("x-kubernetes-validations"); rules != schema.end()) {
    for (const json& rule : *rules) {
      const std::string message = rule.value("message", "");
      auto twin = CelTwins().find(message);
      if (twin == CelTwins().end()) {
        return absl::InternalError(Cat(path, ": the CEL rule \"", message, "\" has no C++ twin"));
      }
      if (!twin->second(value)) return Invalid(path, message);
    }
  }
  return absl::OkStatus();
}

json PruneToSchema(const json& schema, const json& value) {
  if (!schema.is_object()) return value;
  if (value.is_object() && schema.contains("properties")) {
    const json& properties = schema["properties"];
    json out = json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (properties.contains(it.key())) out[it.key()] = PruneToSchema(properties[it.key()], *it);
    }
    return out;
  }
  if (value.is_array() && schema.contains("items")) {
    json out = json::array();
    for (const json& item : value) out.push_back(PruneToSchema(schema["items"], item));
    return out;
  }
  return value;
}

bool HasCelTwin(std::string_view message) { return CelTwins().find(message) != CelTwins().end(); }

}  // namespace zs::api
