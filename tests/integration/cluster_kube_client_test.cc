// zs_kube against the real kube-apiserver of the local cluster.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/kube/errors.h"
#include "common/kube/informer.h"
#include "common/kube/leader_election.h"
#include "common/strings.h"
#include "tests/integration/cluster_testing.h"

namespace zs::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using zs::testing::ClusterClient;
using zs::testing::ClusterNamespace;
using zs::testing::WaitFor;

nlohmann::json ConfigMap(const std::string& ns, const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"zs-test", "cm"}}}}},
          {"data", {{"key", value}}}};
}

class ClusterKubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = ClusterClient();
    ASSERT_NE(client_, nullptr);
    namespace_ = std::make_unique<ClusterNamespace>(*client_, "zs-it-kube");
    ns_ = namespace_->name();
  }
  void TearDown() override { namespace_.reset(); }

  std::unique_ptr<CurlKubeClient> client_;
  std::unique_ptr<ClusterNamespace> namespace_;
  std::string ns_;
};

TEST_F(ClusterKubeClientTest, ConfigMapCrud) {
  auto created = client_->Create(kConfigMaps.In(ns_), ConfigMap(ns_, "a", "1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());

  auto again = client_->Create(kConfigMaps.In(ns_), ConfigMap(ns_, "a", "1"));
  EXPECT_TRUE(kube::IsAlreadyExists(again.status())) << again.status();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);

  auto got = client_->Get(ConfigMapRef(ns_, "a"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["data"]["key"], "1");

  nlohmann::json changed = *got;
  changed["data"]["key"] = "2";
  auto updated = client_->Update(ConfigMapRef(ns_, "a"), changed);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)["data"]["key"], "2");

  auto deleted = client_->Delete(ConfigMapRef(ns_, "a"));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  auto gone = client_->Get(ConfigMapRef(ns_, "a"));
  EXPECT_TRUE(kube::IsNotFound(gone.status())) << gone.status();
  EXPECT_EQ(HttpCode(gone.status()), 404);
  EXPECT_NE(gone.status().message().find("not found"), absl::string_view::npos);
}

TEST_F(ClusterKubeClientTest, StaleResourceVersionIsAConflict) {
  auto created = client_->Create(kConfigMaps.In(ns_), ConfigMap(ns_, "c", "1"));
  ASSERT_TRUE(created.ok()) << created.status();
  nlohmann::json first = *created;
  first["data"]["key"] = "2";
  ASSERT_TRUE(client_->Update(ConfigMapRef(ns_, "c"), first).ok());
  nlohmann::json stale = *created;  // old resourceVersion
  stale["data"]["key"] = "3";
  auto conflict = client_->Update(ConfigMapRef(ns_, "c"), stale);
  EXPECT_TRUE(kube::IsConflict(conflict.status())) << conflict.status();
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted);

  int attempts = 0;
  absl::Status retried = RetryOnConflict(5, [&]() -> absl::Status {
    ++attempts;
    nlohmann::json object = stale;
    if (attempts > 1) {
      auto fresh = client_->Get(ConfigMapRef(ns_, "c"));
      if (!fresh.ok()) return fresh.status();
      object = *fresh;
    }
    object["data"]["key"] = "3";
    return client_->Update(ConfigMapRef(ns_, "c"), object).status();
  });
  EXPECT_TRUE(retried.ok()) << retried;
  EXPECT_EQ(attempts, 2);

  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "not-the-uid";
  EXPECT_TRUE(kube::IsConflict(client_->Delete(ConfigMapRef(ns_, "c"), wrong_uid).status()));
}

TEST_F(ClusterKubeClientTest, MergePatchAndServerSideApply) {
  ASSERT_TRUE(client_->Create(kConfigMaps.In(ns_), ConfigMap(ns_, "p", "1")).ok());
  auto patched = client_->MergePatch(ConfigMapRef(ns_, "p"), {{"data", {{"other", "x"}}}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["data"]["key"], "1");
  EXPECT_EQ((*patched)["data"]["other"], "x");

  nlohmann::json applied = {{"apiVersion", "v1"},
                            {"kind", "ConfigMap"},
                            {"metadata", {{"name", "s"}, {"namespace", ns_}}},
                            {"data", {{"owned", "by-a"}}}};
  ApplyOptions as_a;
  as_a.field_manager = "manager-a";
  ApplyOptions as_b;
  as_b.field_manager = "manager-b";
  auto first = client_->ServerSideApply(ConfigMapRef(ns_, "s"), applied, as_a);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)["data"]["owned"], "by-a");

  // Another manager changing a field it does not own conflicts without force.
  applied["data"]["owned"] = "by-b";
  auto clash = client_->ServerSideApply(ConfigMapRef(ns_, "s"), applied, as_b);
  EXPECT_TRUE(kube::IsConflict(clash.status())) << clash.status();
  as_b.force = true;
  auto forced = client_->ServerSideApply(ConfigMapRef(ns_, "s"), applied, as_b);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ((*forced)["data"]["owned"], "by-b");

  EXPECT_FALSE(
      client_->ServerSideApply(ConfigMapRef(ns_, "s"), applied, ApplyOptions{}).ok());  // no field manager
}

TEST_F(ClusterKubeClientTest, ListPagesWithSelectors) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->Create(kConfigMaps.In(ns_), ConfigMap(ns_, "l" + std::to_string(i), "v")).ok());
  }
  ListOptions page;
  page.label_selector = "zs-test=cm";
  page.limit = 2;
  auto first = client_->List(kConfigMaps.In(ns_), page);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)["items"].size(), 2u);
  EXPECT_FALSE((*first)["metadata"].value("continue", "").empty());

  auto all = client_->ListAll(kConfigMaps.In(ns_), page);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ((*all)["items"].size(), 5u);
  EXPECT_FALSE((*all)["metadata"].value("resourceVersion", "").empty());

  ListOptions by_name;
  by_name.field_selector = "metadata.name=l3";
  auto one = client_->List(kConfigMaps.In(ns_), by_name);
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ((*one)["items"].size(), 1u);
  EXPECT_EQ((*one)["items"][0]["metadata"]["name"], "l3");
}

TEST_F(ClusterKubeClientTest, RawWatchStreamsEventsAndCancels) {
  auto list = client_->List(kConfigMaps.In(ns_), {});
  ASSERT_TRUE(list.ok());
  const std::string rv = (*list)["metadata"]["resourceVersion"];
  Cancellation cancel;
  std::mutex mu;
  std::vector<std::string> seen;
  std::thread watcher([&] {
    WatchOptions options;
    options.resource_version = rv;
    options.cancel = &cancel;
    absl::Status status = client_->Watch(kConfigMaps.In(ns_), options, [&](const WatchEvent& event) {
      std::lock_guard lock(mu);
      if (event.type != WatchEventType::kBookmark) {
        seen.push_back(std::string(WatchEventTypeName(event.type)) + " " +
                       event.object["metadata"]["name"].get<std::string>());
      }
      return true;
    });
    EXPECT_TRUE(status.ok()) << status;
  });
  ASSERT_TRUE(client_->Create(kConfigMaps.In(ns_), ConfigMap(ns_, "w", "1")).ok());
  ASSERT_TRUE(client_->MergePatch(ConfigMapRef(ns_, "w"), {{"data", {{"key", "2"}}}}).ok());
  ASSERT_TRUE(client_->Delete(ConfigMapRef(ns_, "w")).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return seen.size() >= 3;
      },
      seconds(10)));
  auto cancel_start = std::chrono::steady_clock::now();
  cancel.Cancel();
  watcher.join();
  EXPECT_LT(std::chrono::steady_clock::now() - cancel_start, seconds(2));
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED w", "MODIFIED w", "DELETED w"}));
}

TEST_F(ClusterKubeClientTest, InformerSeesAddUpdateDelete) {
  ASSERT_TRUE(client_->Create(kConfigMaps.In(ns_), ConfigMap(ns_, "before", "1")).ok());
  std::mutex mu;
  std::vector<std::string> seen;
  auto record = [&](const std::string& what) {
    std::lock_guard lock(mu);
    seen.push_back(what);
  };
  InformerOptions options;
  options.label_selector = "zs-test=cm";
  Informer informer(*client_, RealClock::Get(), kConfigMaps.In(ns_), options);
  informer.AddHandlers({
      [&](const nlohmann::json& o) { record("add " + o["metadata"]["name"].get<std::string>()); },
      [&](const nlohmann::json&, const nlohmann::json& o) {
        record("update " + o["metadata"]["name"].get<std::string>());
      },
      [&](const nlohmann::json& o) { record("delete " + o["metadata"]["name"].get<std::string>()); },
  });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(10000)));
  ASSERT_TRUE(client_->Create(kConfigMaps.In(ns_), ConfigMap(ns_, "x", "1")).ok());
  ASSERT_TRUE(client_->MergePatch(ConfigMapRef(ns_, "x"), {{"data", {{"key", "2"}}}}).ok());
  ASSERT_TRUE(client_->Delete(ConfigMapRef(ns_, "x")).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return seen.size() >= 4;
      },
      seconds(10)));
  informer.Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"add before", "add x", "update x", "delete x"}));
  EXPECT_TRUE(informer.Get(ns_ + "/before").has_value());
  EXPECT_FALSE(informer.Get(ns_ + "/x").has_value());
}

// Makes the informer's first watch start from a long-compacted resourceVersion.
class StaleFirstWatch : public KubeClient {
 public:
  explicit StaleFirstWatch(KubeClient& real) : real_(real) {}
  absl::StatusOr<nlohmann::json> Get(const ResourceRef& r) override { return real_.Get(r); }
  absl::StatusOr<nlohmann::json> List(const ResourceRef& c, const ListOptions& o) override {
    return real_.List(c, o);
  }
  absl::StatusOr<nlohmann::json> Create(const ResourceRef& r, const nlohmann::json& o,
                                        const WriteOptions& w) override {
    return real_.Create(r, o, w);
  }
  absl::StatusOr<nlohmann::json> Update(const ResourceRef& r, const nlohmann::json& o,
                                        const WriteOptions& w) override {
    return real_.Update(r, o, w);
  }
  absl::StatusOr<nlohmann::json> Patch(const ResourceRef& r, PatchType t, const nlohmann::json& p,
                                       const WriteOptions& w) override {
    return real_.Patch(r, t, p, w);
  }
  absl::StatusOr<nlohmann::json> Apply(const ResourceRef& r, const nlohmann::json& o,
                                       const ApplyOptions& a) override {
    return real_.Apply(r, o, a);
  }
  absl::StatusOr<nlohmann::json> Delete(const ResourceRef& r, const DeleteOptions& d) override {
    return real_.Delete(r, d);
  }
  absl::Status Watch(const ResourceRef& c, const WatchOptions& o, const WatchHandler& h) override {
    WatchOptions options = o;
    if (watches_.fetch_add(1) == 0) options.resource_version = "1";
    return real_.Watch(c, options, h);
  }

 private:
  KubeClient& real_;
  std::atomic<int> watches_{0};
};

// Core v1 events are not in the apiserver's watch cache, so once etcd is
// compacted a watch from an older resourceVersion is answered with 410 Expired
// by etcd itself. (Cached resources keep serving old versions from memory on a
// young cluster, which would make this test depend on the cluster's age.)
TEST_F(ClusterKubeClientTest, WatchFromExpiredResourceVersionRelists) {
  auto list = client_->List(kCoreEvents.In(ns_), {});
  ASSERT_TRUE(list.ok()) << list.status();
  const std::string rv = (*list)["metadata"]["resourceVersion"];
  std::string output;
  ASSERT_EQ(zs::testing::RunInClusterNetns("curl -sS -X POST http://127.0.0.1:2379/v3/kv/compaction -d "
                                           "'{\"revision\":\"" +
                                               rv + "\"}'",
                                           &output),
            0)
      << output;

  // Raw: 410, as an ERROR event (or as the HTTP status).
  bool saw_gone_event = false;
  WatchOptions options;
  options.resource_version = "1";
  options.timeout_seconds = 5;
  absl::Status status = client_->Watch(kCoreEvents.In(ns_), options, [&](const WatchEvent& event) {
    if (event.type == WatchEventType::kError && event.object.value("code", 0) == 410) saw_gone_event = true;
    return false;
  });
  EXPECT_TRUE(saw_gone_event || kube::IsGone(status)) << status;

  // Informer: its first watch starts from "1", gets 410, relists, keeps working.
  StaleFirstWatch stale(*client_);
  Informer informer(stale, RealClock::Get(), kCoreEvents.In(ns_));
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(10000)));
  ASSERT_TRUE(WaitFor([&] { return informer.list_count() >= 2; }, seconds(10)));
  nlohmann::json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", "after"}, {"namespace", ns_}}},
      {"involvedObject", {{"kind", "ConfigMap"}, {"name", "x"}, {"namespace", ns_}, {"apiVersion", "v1"}}},
      {"reason", "Test"},
      {"message", "created after the relist"},
      {"type", "Normal"}};
  auto created = client_->Create(kCoreEvents.In(ns_), event);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(WaitFor([&] { return informer.Get(ns_ + "/after").has_value(); }, seconds(10)));
  informer.Stop();
}

TEST_F(ClusterKubeClientTest, DeploymentScaleSubresource) {
  nlohmann::json deployment = nlohmann::json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "d"},
    "spec": {
      "replicas": 0,
      "selector": {"matchLabels": {"app": "d"}},
      "template": {
        "metadata": {"labels": {"app": "d"}},
        "spec": {"containers": [{"name": "c", "image": "zeroscale/none:never"}]}}}})");
  deployment["metadata"]["namespace"] = ns_;
  ASSERT_TRUE(client_->Create(kDeployments.In(ns_), deployment).ok());
  auto scale = client_->GetScale(DeploymentRef(ns_, "d"));
  ASSERT_TRUE(scale.ok()) << scale.status();
  EXPECT_EQ((*scale)["kind"], "Scale");
  EXPECT_EQ((*scale)["spec"].value("replicas", 0), 0);  // 0 is omitted
  auto patched = client_->PatchScale(DeploymentRef(ns_, "d"), 3);
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["spec"]["replicas"], 3);
  auto got = client_->Get(DeploymentRef(ns_, "d"));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["spec"]["replicas"], 3);
  // Back to 0 so that no pods are left to the node agent.
  ASSERT_TRUE(client_->PatchScale(DeploymentRef(ns_, "d"), 0).ok());
}

TEST_F(ClusterKubeClientTest, StatusSubresourceAndTokenRequest) {
  const std::string node = ns_ + "-node";
  nlohmann::json object = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", node}}}};
  ASSERT_TRUE(client_->Create(kNodes, object).ok());
  auto patched = client_->PatchStatus(
      NodeRef(node),
      {{"status", {{"conditions", {{{"type", "Ready"}, {"status", "False"}, {"reason", "Test"}}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["status"]["conditions"][0]["reason"], "Test");
  client_->Delete(NodeRef(node)).IgnoreError();

  auto token = client_->RequestToken(ns_, "default", 600);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_FALSE((*token)["status"].value("token", "").empty());
}

TEST_F(ClusterKubeClientTest, LeaderElectionBetweenTwoElectors) {
  auto make = [&](const std::string& id, std::atomic<bool>& leading) {
    LeaderElectionConfig config;
    config.lease_namespace = ns_;
    config.lease_name = "election";
    config.identity = id;
    config.lease_duration = seconds(4);
    config.renew_deadline = seconds(3);
    config.retry_period = milliseconds(300);
    config.on_started_leading = [&leading](const std::stop_token&) { leading = true; };
    config.on_stopped_leading = [&leading] { leading = false; };
    return std::make_unique<LeaderElector>(*client_, RealClock::Get(), config);
  };
  std::atomic<bool> a_leading{false};
  std::atomic<bool> b_leading{false};
  auto a = make("a", a_leading);
  a->Start();
  ASSERT_TRUE(WaitFor([&] { return a_leading.load(); }, seconds(10)));
  auto b = make("b", b_leading);
  b->Start();
  ASSERT_TRUE(WaitFor([&] { return b->Leader() == "a"; }, seconds(10)));
  // Longer than the lease duration: a renews, b stays a follower.
  EXPECT_FALSE(WaitFor([&] { return b_leading.load(); }, seconds(5)));
  EXPECT_TRUE(a_leading.load());

  a->Stop();
  a.reset();  // joins after releasing the lease
  ASSERT_TRUE(WaitFor([&] { return b_leading.load(); }, seconds(5)));
  auto lease = client_->Get(LeaseRef(ns_, "election"));
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  b.reset();
}

// A client certificate rotated on disk (cert-manager, a kubelet) is used from
// the next request on: pooled TLS connections made with the old one are
// dropped. The identity shows in the apiserver's 403 for an unprivileged user.
TEST_F(ClusterKubeClientTest, RotatedClientCertificateFilesAreUsedAtOnce) {
  const std::string pki = std::filesystem::path(zs::testing::ClusterKubeconfig()).parent_path() / "pki";
  ASSERT_TRUE(std::filesystem::exists(pki + "/ca.key")) << pki;
  const std::string dir = std::filesystem::temp_directory_path() / ("zs-rotate-" + ns_);
  std::filesystem::create_directories(dir);
  auto issue = [&](const std::string& user) {
    const std::string cmd =
        Cat("cd ", dir, " && openssl ecparam -name prime256v1 -genkey -noout -out ", user,
            ".key 2>/dev/null && openssl req -new -key ", user, ".key -subj /CN=", user, " -out ", user,
            ".csr 2>/dev/null && openssl x509 -req -in ", user, ".csr -CA ", pki, "/ca.crt -CAkey ", pki,
            "/ca.key -set_serial 0x$(openssl rand -hex 8) -days 1 -out ", user, ".crt 2>/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  };
  auto install = [&](const std::string& user) {  // as a rotation does: new files renamed into place
    std::filesystem::copy_file(dir + "/" + user + ".crt", dir + "/tls.crt.new",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(dir + "/" + user + ".key", dir + "/tls.key.new",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(dir + "/tls.crt.new", dir + "/tls.crt");
    std::filesystem::rename(dir + "/tls.key.new", dir + "/tls.key");
  };
  const std::string first = ns_ + "-first";
  const std::string second = ns_ + "-second";
  issue(first);
  issue(second);
  install(first);
  KubeConfig config;
  config.server = client_->config().server;
  config.ca_file = pki + "/ca.crt";
  config.client_cert_file = dir + "/tls.crt";
  config.client_key_file = dir + "/tls.key";
  auto rotating = CurlKubeClient::Create(config);
  ASSERT_TRUE(rotating.ok()) << rotating.status();
  auto who = [&] {
    const absl::Status status = (*rotating)->Get(kNamespaces.Named("default")).status();
    EXPECT_TRUE(IsForbidden(status)) << status;
    return std::string(status.message());
  };
  EXPECT_NE(who().find("\"" + first + "\""), std::string::npos);
  EXPECT_NE(who().find("\"" + first + "\""), std::string::npos);  // a pooled connection, same identity
  install(second);
  const std::string after = who();
  EXPECT_NE(after.find("\"" + second + "\""), std::string::npos) << after;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace zs::kube
