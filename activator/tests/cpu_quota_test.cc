// --threads 0 follows the container's CPU quota: the cgroup files parsed from
// fixture trees laid out as the kernel shows them.
#include "activator/cpu_quota.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace zs::activator {
namespace {

// A fake "/" with proc/self/{cgroup,mountinfo} and cgroup files.
class CgroupTree {
 public:
  CgroupTree() {
    root_ = std::filesystem::temp_directory_path() /
            ("zs-cgroup-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "proc/self");
  }
  ~CgroupTree() { std::filesystem::remove_all(root_); }
  CgroupTree(const CgroupTree&) = delete;
  CgroupTree& operator=(const CgroupTree&) = delete;

  void File(const std::string& path, const std::string& content) {
    const auto full = root_ / path;
    std::filesystem::create_directories(full.parent_path());
    std::ofstream(full) << content;
  }
  std::string root() const { return root_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path root_;
};

constexpr char kV2Mount[] = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
constexpr char kV1Mounts[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "33 31 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";

TEST(CpuQuota, CgroupV2InsideTheContainersNamespace) {
  CgroupTree tree;
  tree.File("proc/self/cgroup", "0::/\n");
  tree.File("proc/self/mountinfo", kV2Mount);
  tree.File("sys/fs/cgroup/cpu.max", "150000 100000\n");
  ASSERT_TRUE(CpuQuota(tree.root()).has_value());
  EXPECT_DOUBLE_EQ(*CpuQuota(tree.root()), 1.5);
  EXPECT_EQ(ThreadsForCpuQuota(CpuQuota(tree.root()), 64), 2);
}

TEST(CpuQuota, CgroupV2NoLimitIsMax) {
  CgroupTree tree;
  tree.File("proc/self/cgroup", "0::/\n");
  tree.File("proc/self/mountinfo", kV2Mount);
  tree.File("sys/fs/cgroup/cpu.max", "max 100000\n");
  EXPECT_FALSE(CpuQuota(tree.root()).has_value());
  EXPECT_EQ(ThreadsForCpuQuota(CpuQuota(tree.root()), 8), 8);
}

// Without a cgroup namespace the process sees its host path; the smallest
// limit on the way up counts (a pod's limit on its parent cgroup).
TEST(CpuQuota, CgroupV2SmallestLimitOnThePathUp) {
  CgroupTree tree;
  tree.File("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  tree.File("proc/self/mountinfo", kV2Mount);
  tree.File("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");
  tree.File("sys/fs/cgroup/kubepods/pod1/cpu.max", "250000 100000\n");
  tree.File("sys/fs/cgroup/kubepods/cpu.max", "800000 100000\n");
  EXPECT_DOUBLE_EQ(*CpuQuota(tree.root()), 2.5);
  EXPECT_EQ(ThreadsForCpuQuota(CpuQuota(tree.root()), 64), 3);
}

TEST(CpuQuota, CgroupV1CfsQuotaOverPeriod) {
  CgroupTree tree;
  tree.File("proc/self/cgroup", "4:memory:/\n3:cpu,cpuacct:/\n0::/\n");
  tree.File("proc/self/mountinfo", kV1Mounts);
  tree.File("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n");
  tree.File("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(*CpuQuota(tree.root()), 0.5);
  EXPECT_EQ(ThreadsForCpuQuota(CpuQuota(tree.root()), 64), 1);  // at least one
}

TEST(CpuQuota, CgroupV1MinusOneIsNoLimit) {
  CgroupTree tree;
  tree.File("proc/self/cgroup", "3:cpu,cpuacct:/\n");
  tree.File("proc/self/mountinfo", kV1Mounts);
  tree.File("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  tree.File("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_FALSE(CpuQuota(tree.root()).has_value());
  EXPECT_EQ(ThreadsForCpuQuota(CpuQuota(tree.root()), 4), 4);
}

// A v1 container whose /proc/self/cgroup shows the host path while its own
// cgroup is mounted at the mount point (mountinfo's root field says which).
TEST(CpuQuota, CgroupV1HostPathUnderAMountedSubtree) {
  CgroupTree tree;
  tree.File("proc/self/cgroup", "3:cpu,cpuacct:/kubepods/pod1/ctr\n");
  tree.File("proc/self/mountinfo",
            "32 31 0:29 /kubepods/pod1/ctr /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpuacct,cpu\n");
  tree.File("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "300000\n");
  tree.File("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(*CpuQuota(tree.root()), 3);
  EXPECT_EQ(ThreadsForCpuQuota(CpuQuota(tree.root()), 64), 3);
}

TEST(CpuQuota, NoCgroupFilesMeansNoQuota) {
  CgroupTree tree;
  EXPECT_FALSE(CpuQuota(tree.root()).has_value());
  tree.File("proc/self/cgroup", "0::/\n");
  tree.File("proc/self/mountinfo", kV2Mount);  // mounted, but no cpu controller: no cpu.max
  EXPECT_FALSE(CpuQuota(tree.root()).has_value());
  tree.File("sys/fs/cgroup/cpu.max", "garbage\n");
  EXPECT_FALSE(CpuQuota(tree.root()).has_value());
}

TEST(ThreadsForCpuQuota, RoundsUpAtLeastOneAtMostTheCpus) {
  EXPECT_EQ(ThreadsForCpuQuota(std::nullopt, 6), 6);
  EXPECT_EQ(ThreadsForCpuQuota(std::nullopt, 0), 1);
  EXPECT_EQ(ThreadsForCpuQuota(0.1, 6), 1);
  EXPECT_EQ(ThreadsForCpuQuota(1.0, 6), 1);
  EXPECT_EQ(ThreadsForCpuQuota(1.01, 6), 2);
  EXPECT_EQ(ThreadsForCpuQuota(16, 6), 6);  // a quota above the CPUs buys no more parallelism
  EXPECT_GE(AvailableCpus(), 1);
}

}  // namespace
}  // namespace zs::activator
