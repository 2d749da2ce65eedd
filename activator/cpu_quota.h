// How many CPUs the activator may use: the container's CPU quota, not the
// node's cores, so `--threads 0` starts as many workers as the quota can run
// (a pod limited to 1 CPU on a 64-core node wants 1 worker, not 64: the
// other 63 would only be throttled and add context switches).
//
// Read from the cgroup filesystem as the kernel exposes it to the process:
// /proc/self/cgroup names the process's cgroup per hierarchy,
// /proc/self/mountinfo says where each hierarchy is mounted, and the limit
// is the smallest one on the way from that cgroup up to the mount's root
// (cgroup v2 `cpu.max` "<quota> <period>" or "max <period>"; cgroup v1
// `cpu.cfs_quota_us` (-1: none) over `cpu.cfs_period_us`). Inside a
// container with its own cgroup namespace both files show "/" and the walk
// reads the container's own limit.
//
// Every path is read under `root` ("/" in production), so tests run the
// parsing on fixture trees.
#pragma once

#include <optional>
#include <string>

namespace zs::activator {

// The quota in CPUs (e.g. 1.5), or nullopt when no cgroup sets one.
std::optional<double> CpuQuota(const std::string& root);

// Worker threads for `--threads 0`: the quota rounded up, at least 1 and at
// most `available_cpus`; `available_cpus` without a quota.
int ThreadsForCpuQuota(std::optional<double> quota, int available_cpus);

// CPUs this process may run on (its affinity mask; the online CPUs when
// that cannot be read).
int AvailableCpus();

}  // namespace zs::activator
