// The C++ side of crd_apply.sh's comparison: for each Function manifest named
// on the command line, one line "<file>\tok" or "<file>\trefused\t<message>"
// with the verdict of api::ValidateFunctionObject, the same call the unit
// test common_test (Crd.TableAgreesWithCppValidation) makes. A file that is
// not one YAML document exits 2: the table itself is broken.
#include <iostream>

#include "common/api/function.h"
#include "common/yaml.h"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    auto docs = zs::YamlFileToJson(argv[i]);
    if (!docs.ok() || docs->size() != 1) {
      std::cerr << argv[i] << ": not one YAML document: " << (docs.ok() ? "" : docs.status().ToString())
                << "\n";
      return 2;
    }
    const absl::Status verdict = zs::api::ValidateFunctionObject((*docs)[0]);
    std::cout << argv[i] << (verdict.ok() ? "\tok" : "\trefused\t" + std::string(verdict.message())) << "\n";
  }
  return 0;
}
