#include "hack/node-agent/network.h"

#include <gtest/gtest.h>

namespace zs::nodeagent {
namespace {

TEST(ContainerIdTest, NamesTheSandboxAndIsReadBack) {
  Sandbox sandbox;
  sandbox.netns = "zs-pod-0a1b2c3d";
  const std::string id = ContainerId(sandbox, "fn", 2);
  EXPECT_EQ(id, "zs://zs-pod-0a1b2c3d/fn/2");
  EXPECT_EQ(NetnsOfContainerId(id), "zs-pod-0a1b2c3d");
}

TEST(ContainerIdTest, AnIdOfAnotherRuntimeNamesNoSandbox) {
  EXPECT_EQ(NetnsOfContainerId("containerd://4f2a"), "");
  EXPECT_EQ(NetnsOfContainerId(""), "");
  EXPECT_EQ(NetnsOfContainerId("zs://zs-pod-1"), "zs-pod-1");
}

}  // namespace
}  // namespace zs::nodeagent
