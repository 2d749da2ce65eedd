// zeroscale-controller: parses flags and wires the parts; nothing else.
#include <cstdio>
#include <iostream>

#include "common/flags.h"
#include "common/log.h"
#include "controller/options.h"

int main(int argc, char** argv) {
  zs::controller::Options options;
  zs::FlagSet flags(
      "zeroscale-controller",
      "Reconciles zeroscale.dev Functions into Deployments and Services and scales them with traffic.");
  options.Register(flags);
  auto outcome = flags.Parse(argc, argv);
  if (!outcome.ok()) {
    std::cerr << "zeroscale-controller: " << outcome.status().message() << "\n";
    return 2;
  }
  if (*outcome == zs::FlagSet::Outcome::kHelp) {
    std::cout << flags.Usage();
    return 0;
  }
  zs::log::SetLogger("controller");
  zs::log::Error("the controller is not wired yet");
  return 1;
}
