// libFuzzer target: one request's bytes through the activator's head parser,
// router and head rewriting (parse.h's ParseForFuzzing), with small limits so
// that the 431/413 paths are reachable.
#include <cstddef>
#include <cstdint>

#include "activator/http/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const zs::activator::ParseLimits kLimits{512, 4096};
  (void)zs::activator::ParseForFuzzing(data, size, kLimits, "fn.local");
  return 0;
}
