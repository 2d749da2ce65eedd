#include "common/kube/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"

namespace zs::kube {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "zs-kube-config-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string Kubeconfig(const std::string& user_block) {
  return R"(apiVersion: v1
kind: Config
current-context: admin@zs
clusters:
- name: other
  cluster: {server: "https://10.0.0.1:443"}
- name: zs
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )" +
         absl::Base64Escape("CA PEM") + R"(
contexts:
- name: admin@zs
  context: {cluster: zs, user: admin, namespace: team-a}
- name: other
  context: {cluster: other, user: admin}
users:
- name: admin
  user:
)" + user_block;
}

TEST(KubeconfigTest, CurrentContextWithEmbeddedCertificates) {
  auto config = ParseKubeconfig(Kubeconfig("    client-certificate-data: " + absl::Base64Escape("CERT") +
                                           "\n    client-key-data: " + absl::Base64Escape("KEY") + "\n"),
                                "/base");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->ca_pem, "CA PEM");
  EXPECT_EQ(config->client_cert_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_EQ(config->namespace_, "team-a");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST(KubeconfigTest, FilePathsAreRelativeToTheKubeconfig) {
  auto config = ParseKubeconfig(
      Kubeconfig("    client-certificate: certs/admin.crt\n    client-key: /abs/admin.key\n    token: abc\n"),
      "/base");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->client_cert_file, "/base/certs/admin.crt");
  EXPECT_EQ(config->client_key_file, "/abs/admin.key");
  EXPECT_EQ(config->token, "abc");
}

TEST(KubeconfigTest, ExplicitContextAndInsecure) {
  std::string text = Kubeconfig("    token: t\n");
  text.replace(text.find("{server: \"https://10.0.0.1:443\"}"), 32,
               "{server: \"https://10.0.0.1:443\", insecure-skip-tls-verify: true}");
  auto config = ParseKubeconfig(text, "", "other");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.0.0.1:443");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->namespace_, "default");
}

TEST(KubeconfigTest, ErrorsAreStatusesNotExceptions) {
  EXPECT_EQ(ParseKubeconfig("{{{ not yaml", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseKubeconfig("- a list", "").ok());
  EXPECT_FALSE(ParseKubeconfig(Kubeconfig("    token: t\n"), "", "missing").ok());
  EXPECT_FALSE(ParseKubeconfig("current-context: x\ncontexts: 3\n", "").ok());
  EXPECT_EQ(ParseKubeconfig(Kubeconfig("    exec: {command: aws}\n"), "").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(LoadKubeconfig("/nonexistent/kubeconfig").status().code(), absl::StatusCode::kNotFound);
}

TEST(InClusterTest, ReadsServiceAccountDirectoryAndEnvironment) {
  TempDir dir;
  dir.Write("token", "tok-1\n");
  dir.Write("ca.crt", "CA");
  dir.Write("namespace", "fn-ns");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.88.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "6443");
  ManualClock clock;
  auto config = LoadInClusterConfig(clock, dir.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.88.0.1:6443");
  EXPECT_EQ(config->ca_file, dir.path() + "/ca.crt");
  EXPECT_EQ(config->namespace_, "fn-ns");
  ASSERT_NE(config->token_file, nullptr);
  EXPECT_EQ(*config->token_file->Token(), "tok-1");
}

TEST(InClusterTest, ZsServiceAccountDirOverridesTheDefaultPath) {
  TempDir dir;
  dir.Write("token", "tok");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00::1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", nullptr);
  ScopedEnv sa("ZS_SERVICEACCOUNT_DIR", dir.path().c_str());
  ManualClock clock;
  auto config = LoadInClusterConfig(clock);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->namespace_, "default");
}

TEST(InClusterTest, NeedsTheEnvironment) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
  ManualClock clock;
  EXPECT_EQ(LoadInClusterConfig(clock, "/nonexistent").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

void SetMtime(const std::string& path, int64_t seconds) {
  struct timeval times[2] = {{seconds, 0}, {seconds, 0}};
  ::utimes(path.c_str(), times);
}

TEST(TokenFileTest, RereadsChangedFileAtMostOncePerIntervalOrWhenInvalidated) {
  TempDir dir;
  std::string path = dir.Write("token", "one");
  SetMtime(path, 1000);
  ManualClock clock;
  TokenFile token(path, clock, std::chrono::minutes(1));
  EXPECT_EQ(*token.Token(), "one");

  dir.Write("token", "two");
  SetMtime(path, 2000);
  EXPECT_EQ(*token.Token(), "one");  // checked less than a minute ago
  clock.Advance(std::chrono::seconds(61));
  EXPECT_EQ(*token.Token(), "two");

  dir.Write("token", "three");
  SetMtime(path, 3000);
  token.Invalidate();  // e.g. after a 401
  EXPECT_EQ(*token.Token(), "three");

  // Unchanged mtime: not re-read even when looked at.
  dir.Write("token", "four");
  SetMtime(path, 3000);
  clock.Advance(std::chrono::minutes(2));
  EXPECT_EQ(*token.Token(), "three");

  // A briefly missing file keeps the old token.
  fs::remove(path);
  token.Invalidate();
  EXPECT_EQ(*token.Token(), "three");
}

// controller-runtime's order: --kubeconfig, then $KUBECONFIG, then
// in-cluster, then ~/.kube/config.
TEST(ResolveConfigTest, FlagThenKubeconfigEnvThenInClusterThenHome) {
  TempDir dir;
  std::string flag_path = dir.Write("flag.kubeconfig", Kubeconfig("    token: from-flag\n"));
  std::string env_path = dir.Write("env.kubeconfig", Kubeconfig("    token: from-env\n"));
  fs::create_directories(dir.path() + "/home/.kube");
  dir.Write("home/.kube/config", Kubeconfig("    token: from-home\n"));
  TempDir sa;
  sa.Write("token", "from-sa");
  ManualClock clock;
  ScopedEnv home("HOME", (dir.path() + "/home").c_str());
  ScopedEnv sa_env("ZS_SERVICEACCOUNT_DIR", sa.path().c_str());
  {
    ScopedEnv kubeconfig("KUBECONFIG", env_path.c_str());
    ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.0.0.1");
    auto config = ResolveConfig(flag_path, clock);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->token, "from-flag");
  }
  {
    ScopedEnv kubeconfig("KUBECONFIG", env_path.c_str());
    ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.0.0.1");  // $KUBECONFIG wins over the pod's account
    auto config = ResolveConfig("", clock);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->token, "from-env");
  }
  {
    ScopedEnv kubeconfig("KUBECONFIG", nullptr);
    ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.0.0.1");
    auto config = ResolveConfig("", clock);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->source, "in-cluster");
  }
  {
    ScopedEnv kubeconfig("KUBECONFIG", nullptr);
    ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
    auto config = ResolveConfig("", clock);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->token, "from-home");
  }
}

// kubectl's merge of $KUBECONFIG: every file counts, the first to name an
// entry or set current-context wins, missing files are skipped, and relative
// paths stay relative to the file that holds them.
TEST(ResolveConfigTest, KubeconfigEnvMergesEveryFile) {
  TempDir dir;
  fs::create_directories(dir.path() + "/a");
  fs::create_directories(dir.path() + "/b");
  // a: only the current context, pointing at a cluster and user defined in b.
  std::string a = dir.Write("a/config", R"(apiVersion: v1
kind: Config
current-context: team
contexts:
- name: team
  context: {cluster: shared, user: robot, namespace: team-b}
users:
- name: robot
  user: {tokenFile: token}
)");
  // b: its own current-context (ignored: a set one first), the cluster, and a
  // second "robot" user that loses to a's.
  std::string b = dir.Write("b/config", R"(apiVersion: v1
kind: Config
current-context: elsewhere
clusters:
- name: shared
  cluster: {server: "https://10.1.2.3:6443", certificate-authority: ca.crt}
contexts:
- name: elsewhere
  context: {cluster: shared, user: robot}
users:
- name: robot
  user: {token: from-b}
)");
  dir.Write("a/token", "from-a-file\n");
  ManualClock clock;
  ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
  ScopedEnv kubeconfig("KUBECONFIG", (dir.path() + "/missing:" + a + ":" + b).c_str());
  auto config = ResolveConfig("", clock);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.1.2.3:6443");
  EXPECT_EQ(config->namespace_, "team-b");
  EXPECT_EQ(config->ca_file, dir.path() + "/b/ca.crt");
  EXPECT_TRUE(config->token.empty());
  ASSERT_NE(config->token_file, nullptr);
  EXPECT_EQ(config->token_file->path(), dir.path() + "/a/token");
  EXPECT_EQ(*config->token_file->Token(), "from-a-file");
  EXPECT_EQ(config->source, "kubeconfig:" + a + ":" + b);

  ScopedEnv none("KUBECONFIG", (dir.path() + "/missing").c_str());
  auto missing = ResolveConfig("", clock);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no readable kubeconfig"), std::string::npos) << missing.status();
}

}  // namespace
}  // namespace zs::kube
