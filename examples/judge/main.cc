// judge: an online judge's grader. POST /submit {"problem": "sum", "source":
// "<POSIX sh script>"} runs the script against each of the problem's tests
// and answers the verdict: AC (every output right), WA (an output wrong),
// TLE (past the CPU or wall-clock limit), RE (exit status not 0, killed by a
// signal, or over a resource limit). Each verdict is also one JSON line on
// stdout and kept in memory for GET /verdicts; GET /problems lists the
// problems.
//
// Isolation of a run, inside the Function's pod (whose Function sets
// scaling.maxConcurrency: 1, so two submissions never share a pod): a fresh
// temporary directory holding only the script and the test's input, removed
// afterwards; a child process running /bin/sh from the image in its own
// process group, with an empty environment but PATH, no descriptors but
// stdin (the input), stdout (a file, compared afterwards) and stderr
// (/dev/null), and limits: CPU seconds, address space, file size, open
// files, processes (RLIMIT_NPROC counts every process of the uid on the
// node), no core files. The whole group is killed at the wall-clock limit.
// The grader itself is not dumpable, so a script of the same uid cannot read
// its memory or environment through /proc.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "examples/common/http_server.h"

namespace {

namespace fs = std::filesystem;
using zs::examples::Error;
using zs::examples::Json;
using zs::examples::Request;
using zs::examples::Response;

struct Test {
  std::string input;
  std::string expected;
};

struct Problem {
  std::string statement;
  std::vector<Test> tests;
  int cpu_seconds = 1;
  int wall_ms = 2000;
};

const std::map<std::string, Problem>& Problems() {
  static const std::map<std::string, Problem> problems = {
      {"sum",
       {"Each line holds two integers; print their sum, one a line.",
        {{"1 2\n3 4\n", "3\n7\n"}, {"-5 5\n100 23\n2000000000 2000000000\n", "0\n123\n4000000000\n"}}}},
      {"upper",
       {"Print the input in upper case.",
        {{"hello, world\n", "HELLO, WORLD\n"}, {"zeroscale\nruns judges\n", "ZEROSCALE\nRUNS JUDGES\n"}}}},
  };
  return problems;
}

struct Limits {
  rlim_t address_space = rlim_t{256} << 20;
  rlim_t file_size = rlim_t{1} << 20;
  rlim_t processes = 256;
  rlim_t open_files = 64;
};

// Outputs compare equal when they differ only by spaces at line ends and
// newlines at the end.
std::string Normalize(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.pop_back();
    out += line + "\n";
  }
  while (out.size() >= 2 && out.substr(out.size() - 2) == "\n\n") out.pop_back();
  return out == "\n" ? "" : out;
}

struct Outcome {
  std::string verdict;  // AC, WA, TLE, RE
  std::string detail;
  int64_t time_ms = 0;
};

// Runs `source` on one test in `dir` (fresh, empty). Everything the child
// needs is prepared before fork(): between fork and exec only
// async-signal-safe calls are made.
Outcome RunOne(const fs::path& dir, const std::string& source, const Test& test, const Problem& problem,
               const Limits& limits) {
  std::ofstream(dir / "solution.sh") << source;
  std::ofstream(dir / "input.txt") << test.input;
  const std::string dir_s = dir.string();
  const std::string input = (dir / "input.txt").string();
  const std::string output = (dir / "output.txt").string();
  const std::string home = "HOME=" + dir_s;
  const std::string tmpdir = "TMPDIR=" + dir_s;
  const char* argv[] = {"sh", "solution.sh", nullptr};
  const char* envp[] = {"PATH=/usr/bin:/bin", "LANG=C", home.c_str(), tmpdir.c_str(), nullptr};
  const rlimit cpu{static_cast<rlim_t>(problem.cpu_seconds), static_cast<rlim_t>(problem.cpu_seconds) + 1};
  const rlimit as{limits.address_space, limits.address_space};
  const rlimit fsize{limits.file_size, limits.file_size};
  const rlimit nproc{limits.processes, limits.processes};
  const rlimit nofile{limits.open_files, limits.open_files};
  const rlimit core{0, 0};
  sigset_t none;
  sigemptyset(&none);

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) return {"RE", std::string("fork: ") + std::strerror(errno), 0};
  if (pid == 0) {
    setpgid(0, 0);
    const int in = open(input.c_str(), O_RDONLY);
    const int out = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open("/dev/null", O_WRONLY);
    if (in < 0 || out < 0 || err < 0 || chdir(dir_s.c_str()) != 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    close_range(3, ~0U, 0);
    signal(SIGPIPE, SIG_DFL);  // the server ignores it; a pipeline in the script must not
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || setrlimit(RLIMIT_AS, &as) != 0 ||
        setrlimit(RLIMIT_FSIZE, &fsize) != 0 || setrlimit(RLIMIT_NPROC, &nproc) != 0 ||
        setrlimit(RLIMIT_NOFILE, &nofile) != 0 || setrlimit(RLIMIT_CORE, &core) != 0) {
      _exit(126);
    }
    execve("/bin/sh", const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    _exit(127);
  }
  setpgid(pid, pid);  // also here: no kill(-pid) may miss the group
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  bool timed_out = false;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int ready = 0;
    while ((ready = poll(&p, 1, problem.wall_ms)) < 0 && errno == EINTR) {
    }
    timed_out = ready == 0;
    close(pidfd);
  }
  // The whole group: whatever the script left running in the background
  // goes too.
  kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  if (timed_out) return {"TLE", "wall-clock limit " + std::to_string(problem.wall_ms) + " ms", ms};
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGXCPU || sig == SIGKILL) {
      return {"TLE", "CPU limit " + std::to_string(problem.cpu_seconds) + " s", ms};
    }
    return {"RE", std::string("killed by signal ") + strsignal(sig), ms};
  }
  if (WEXITSTATUS(status) != 0) return {"RE", "exit status " + std::to_string(WEXITSTATUS(status)), ms};
  std::ifstream result(output);
  std::stringstream got;
  got << result.rdbuf();
  if (Normalize(got.str()) != Normalize(test.expected)) return {"WA", "wrong output", ms};
  return {"AC", "", ms};
}

class Judge {
 public:
  Judge(std::string pod, Limits limits, fs::path tmp)
      : pod_(std::move(pod)), limits_(limits), tmp_(std::move(tmp)) {}

  Response Handle(const Request& req) {
    if (req.path == "/submit" && req.method == "POST") return Submit(req);
    if (req.path == "/verdicts" && req.method == "GET") {
      std::lock_guard lock(mu_);
      return Json(200, {{"pod", pod_}, {"verdicts", nlohmann::json(verdicts_)}});
    }
    if (req.path == "/problems" && req.method == "GET") {
      nlohmann::json list = nlohmann::json::object();
      for (const auto& [name, p] : Problems()) {
        list[name] = {{"statement", p.statement},
                      {"tests", p.tests.size()},
                      {"cpu_seconds", p.cpu_seconds},
                      {"wall_ms", p.wall_ms},
                      {"example_input", p.tests.front().input}};
      }
      return Json(200, list);
    }
    return Error(404, "POST /submit, GET /verdicts or GET /problems");
  }

 private:
  Response Submit(const Request& req) {
    const auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("problem") || !body["problem"].is_string() ||
        !body.contains("source") || !body["source"].is_string()) {
      return Error(400, "expected {\"problem\": \"...\", \"source\": \"<POSIX sh script>\"}");
    }
    const std::string name = body["problem"].get<std::string>();
    auto it = Problems().find(name);
    if (it == Problems().end()) return Error(400, "unknown problem \"" + name + "\"");
    const Problem& problem = it->second;
    const std::string source = body["source"].get<std::string>();

    // With maxConcurrency: 1 this is always 0; reported so that it can be seen.
    const int others = running_.fetch_add(1);
    const std::string started = zs::examples::NowRfc3339();
    const int64_t number = ++submissions_;
    Outcome outcome{"AC", "", 0};
    int passed = 0;
    for (const Test& test : problem.tests) {
      std::string pattern = (tmp_ / "judge-XXXXXX").string();
      if (mkdtemp(pattern.data()) == nullptr) {
        running_.fetch_sub(1);
        return Error(500, std::string("mkdtemp: ") + std::strerror(errno));
      }
      const fs::path dir(pattern);
      Outcome one = RunOne(dir, source, test, problem, limits_);
      std::error_code ignored;
      fs::remove_all(dir, ignored);
      outcome.time_ms = std::max(outcome.time_ms, one.time_ms);
      if (one.verdict != "AC") {
        outcome = {one.verdict, one.detail, outcome.time_ms};
        break;
      }
      ++passed;
    }
    const std::string finished = zs::examples::NowRfc3339();
    running_.fetch_sub(1);

    nlohmann::json verdict = {{"submission", pod_ + "-" + std::to_string(number)},
                              {"request_id", req.Header("x-request-id")},
                              {"problem", name},
                              {"verdict", outcome.verdict},
                              {"detail", outcome.detail},
                              {"tests_passed", passed},
                              {"tests", problem.tests.size()},
                              {"time_ms", outcome.time_ms},
                              {"pod", pod_},
                              {"started", started},
                              {"finished", finished},
                              {"others_running", others}};
    zs::examples::LogJson({{"msg", "verdict"}, {"verdict", verdict}});
    {
      std::lock_guard lock(mu_);
      verdicts_.push_back(verdict);
      if (verdicts_.size() > 1000) verdicts_.pop_front();
    }
    return Json(200, verdict);
  }

  const std::string pod_;
  const Limits limits_;
  const fs::path tmp_;
  std::atomic<int> running_{0};
  std::atomic<int64_t> submissions_{0};
  std::mutex mu_;
  std::deque<nlohmann::json> verdicts_;  // guarded by mu_; the last 1000
};

}  // namespace

int main() {
  // Scripts run as our uid; not dumpable keeps them out of /proc/<our pid>.
  prctl(PR_SET_DUMPABLE, 0);
  Limits limits;
  limits.processes = static_cast<rlim_t>(zs::examples::EnvInt("JUDGE_MAX_PROCESSES", 256));
  limits.address_space = static_cast<rlim_t>(zs::examples::EnvInt("JUDGE_MAX_MEMORY_MB", 256)) << 20;
  Judge judge(zs::examples::Env("HOSTNAME", "judge"), limits, zs::examples::Env("TMPDIR", "/tmp"));
  return zs::examples::Serve("judge", [&](const Request& req) { return judge.Handle(req); });
}
