#include "hack/node-agent/ipam.h"

#include <gtest/gtest.h>

namespace zs::nodeagent {
namespace {

TEST(IpamTest, SkipsNetworkBroadcastAndReserved) {
  auto ipam = Ipam::Create("10.88.1.0/30", {"10.88.1.1"});
  ASSERT_TRUE(ipam.ok()) << ipam.status();
  EXPECT_EQ(*(*ipam)->Allocate(), "10.88.1.2");
  EXPECT_EQ((*ipam)->Allocate().status().code(), absl::StatusCode::kResourceExhausted);
  (*ipam)->Release("10.88.1.2");
  EXPECT_EQ(*(*ipam)->Allocate(), "10.88.1.2");
}

TEST(IpamTest, RoundRobinDoesNotReuseAJustReleasedAddress) {
  auto ipam = *Ipam::Create("10.88.1.0/24");
  EXPECT_EQ(*ipam->Allocate(), "10.88.1.1");
  EXPECT_EQ(*ipam->Allocate(), "10.88.1.2");
  ipam->Release("10.88.1.1");
  EXPECT_EQ(*ipam->Allocate(), "10.88.1.3");
  EXPECT_EQ(ipam->in_use(), 2u);
}

TEST(IpamTest, WrapsAroundAndClaims) {
  auto ipam = *Ipam::Create("10.0.0.0/29");  // .1 .. .6
  EXPECT_TRUE(ipam->Claim("10.0.0.1"));
  EXPECT_FALSE(ipam->Claim("10.0.0.1"));
  EXPECT_FALSE(ipam->Claim("10.0.0.7"));  // broadcast
  EXPECT_FALSE(ipam->Claim("10.0.1.1"));  // outside
  std::vector<std::string> got;
  got.reserve(5);
  for (int i = 0; i < 5; ++i) got.push_back(*ipam->Allocate());
  EXPECT_EQ(got, (std::vector<std::string>{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}));
  ipam->Release("10.0.0.3");
  EXPECT_EQ(*ipam->Allocate(), "10.0.0.3");
}

TEST(IpamTest, BadInput) {
  EXPECT_FALSE(Ipam::Create("10.0.0.0").ok());
  EXPECT_FALSE(Ipam::Create("10.0.0.x/24").ok());
  EXPECT_FALSE(Ipam::Create("10.0.0.0/31").ok());
  EXPECT_FALSE(Ipam::Create("10.0.0.0/24", {"nope"}).ok());
  EXPECT_EQ(FormatIpv4(*ParseIpv4("192.168.7.9")), "192.168.7.9");
}

}  // namespace
}  // namespace zs::nodeagent
