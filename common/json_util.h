// Small readers for apiserver JSON, where absent fields mean zero.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace zs {

// The integer at a JSON pointer ("/spec/replicas"); 0 when absent or not an
// integer (Kubernetes omits zero-valued integers such as Scale's replicas).
inline int32_t Int32At(const nlohmann::json& object, const char* pointer) {
  const nlohmann::json::json_pointer ptr(pointer);
  return object.contains(ptr) && object[ptr].is_number_integer() ? object[ptr].get<int32_t>() : 0;
}

}  // namespace zs
