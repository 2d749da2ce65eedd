#include "hack/node-agent/pod_status.h"

#include <gtest/gtest.h>

namespace zs::nodeagent {
namespace {

using nlohmann::json;

SystemTime At(int64_t seconds) { return SystemTime{} + std::chrono::seconds(1'780'000'000 + seconds); }

ContainerView Running(bool ready) {
  ContainerView c;
  c.name = "fn";
  c.image = "zeroscale/fn-echo";
  c.state = ContainerView::State::kRunning;
  c.started_at = At(1);
  c.ready = ready;
  return c;
}

ContainerView Exited(int code, bool will_restart) {
  ContainerView c;
  c.name = "fn";
  c.state = ContainerView::State::kTerminated;
  c.terminated = Termination{code, 0, code == 0 ? "Completed" : "Error", "", At(1), At(2), "zs://x/fn/1"};
  c.will_restart = will_restart;
  return c;
}

PodView Pod(std::vector<ContainerView> containers) {
  PodView pod;
  pod.sandbox_ready = true;
  pod.pod_ip = "10.88.1.2";
  pod.host_ip = "10.88.255.1";
  pod.start_time = At(0);
  pod.containers = std::move(containers);
  return pod;
}

std::string Condition(const json& status, const std::string& type) {
  for (const auto& c : status["conditions"]) {
    if (c["type"] == type) return c["status"];
  }
  return "<none>";
}

TEST(PodStatusTest, Phases) {
  PodView no_sandbox = Pod({Running(true)});
  no_sandbox.sandbox_ready = false;
  EXPECT_EQ(PodPhase(no_sandbox), "Pending");
  EXPECT_EQ(PodPhase(Pod({ContainerView{}})), "Pending");  // waiting, never ran
  EXPECT_EQ(PodPhase(Pod({Running(false)})), "Running");
  EXPECT_EQ(PodPhase(Pod({Exited(1, true)})), "Running");  // will restart
  EXPECT_EQ(PodPhase(Pod({Exited(0, false)})), "Succeeded");
  EXPECT_EQ(PodPhase(Pod({Exited(0, false), Exited(2, false)})), "Failed");
  EXPECT_EQ(PodPhase(Pod({Exited(0, false), Running(true)})), "Running");
  ContainerView crash_loop;
  crash_loop.waiting_reason = "CrashLoopBackOff";
  crash_loop.last_termination = Termination{1, 0, "Error", "", At(1), At(2), ""};
  crash_loop.will_restart = true;
  EXPECT_EQ(PodPhase(Pod({crash_loop})), "Running");
}

TEST(PodStatusTest, ReadyRunningPod) {
  json status = BuildPodStatus(Pod({Running(true)}), json::object(), At(5));
  EXPECT_EQ(status["phase"], "Running");
  EXPECT_EQ(status["podIP"], "10.88.1.2");
  EXPECT_EQ(status["podIPs"][0]["ip"], "10.88.1.2");
  EXPECT_EQ(status["hostIP"], "10.88.255.1");
  EXPECT_EQ(Condition(status, "Ready"), "True");
  EXPECT_EQ(Condition(status, "ContainersReady"), "True");
  EXPECT_EQ(Condition(status, "PodScheduled"), "True");
  EXPECT_EQ(Condition(status, "Initialized"), "True");
  const json& c = status["containerStatuses"][0];
  EXPECT_EQ(c["ready"], true);
  EXPECT_EQ(c["started"], true);
  EXPECT_EQ(c["restartCount"], 0);
  EXPECT_EQ(c["state"]["running"]["startedAt"], "2026-05-28T20:26:41Z");
  EXPECT_TRUE(status["message"].is_null());
}

TEST(PodStatusTest, NotReadyAndRestartedContainer) {
  ContainerView c = Running(false);
  c.restart_count = 2;
  c.last_termination = Termination{137, 9, "Error", "", At(1), At(2), "zs://x/fn/2"};
  json status = BuildPodStatus(Pod({c}), json::object(), At(5));
  EXPECT_EQ(Condition(status, "Ready"), "False");
  EXPECT_EQ(status["containerStatuses"][0]["restartCount"], 2);
  const json& last = status["containerStatuses"][0]["lastState"]["terminated"];
  EXPECT_EQ(last["exitCode"], 137);
  EXPECT_EQ(last["signal"], 9);
  EXPECT_EQ(last["reason"], "Error");
}

TEST(PodStatusTest, WaitingAndTerminatedStates) {
  ContainerView waiting;
  waiting.name = "fn";
  waiting.waiting_reason = "ErrImagePull";
  waiting.waiting_message = "image x is not in the map";
  json status = BuildPodStatus(Pod({waiting}), json::object(), At(5));
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_EQ(status["containerStatuses"][0]["state"]["waiting"]["reason"], "ErrImagePull");
  EXPECT_EQ(status["containerStatuses"][0]["started"], false);

  status = BuildPodStatus(Pod({Exited(3, false)}), json::object(), At(5));
  EXPECT_EQ(status["phase"], "Failed");
  EXPECT_EQ(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(Condition(status, "Ready"), "False");
}

TEST(PodStatusTest, TransitionTimesSurviveUnchangedConditions) {
  json first = BuildPodStatus(Pod({Running(false)}), json::object(), At(5));
  json second = BuildPodStatus(Pod({Running(false)}), first, At(9));
  EXPECT_EQ(first, second);  // nothing changed: nothing to patch
  json ready = BuildPodStatus(Pod({Running(true)}), second, At(12));
  for (const auto& c : ready["conditions"]) {
    if (c["type"] == "Ready") {
      EXPECT_EQ(c["lastTransitionTime"], "2026-05-28T20:26:52Z");
    }
    if (c["type"] == "Initialized") {
      EXPECT_EQ(c["lastTransitionTime"], "2026-05-28T20:26:45Z");
    }
  }
}

TEST(PodStatusTest, SandboxErrorIsReported) {
  PodView pod = Pod({ContainerView{}});
  pod.sandbox_ready = false;
  pod.pod_ip.clear();
  pod.sandbox_error = "pod CIDR exhausted";
  json status = BuildPodStatus(pod, json::object(), At(1));
  EXPECT_EQ(status["message"], "pod CIDR exhausted");
  EXPECT_FALSE(status.contains("podIP"));
  EXPECT_EQ(Condition(status, "PodReadyToStartContainers"), "False");
}

}  // namespace
}  // namespace zs::nodeagent
