// zeroscale-activator: parses flags and wires the parts; nothing else.
#include <cstdio>
#include <iostream>

#include "activator/options.h"
#include "common/flags.h"
#include "common/log.h"

int main(int argc, char** argv) {
  zs::activator::Options options;
  zs::FlagSet flags("zeroscale-activator",
                    "Routes, buffers, balances, times out and meters invocations of zeroscale Functions.");
  options.Register(flags);
  auto outcome = flags.Parse(argc, argv);
  if (!outcome.ok()) {
    std::cerr << "zeroscale-activator: " << outcome.status().message() << "\n";
    return 2;
  }
  if (*outcome == zs::FlagSet::Outcome::kHelp) {
    std::cout << flags.Usage();
    return 0;
  }
  zs::log::SetLogger("activator");
  zs::log::Error("the activator is not wired yet");
  return 1;
}
