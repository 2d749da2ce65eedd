// What an install must be, checked on the objects users apply: the plain
// manifests in deploy/ and the chart's renderings pinned in golden/ (which
// helm_golden.sh keeps equal to `helm template`). Pod hardening, least-privilege
// RBAC (exact rule sets), flags the binaries really accept (parsed with their
// own FlagSets), Services and PDBs that select the pods they mean, and a
// dashboard that queries every metric docs/metrics-and-billing.md names.
#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "activator/options.h"
#include "common/flags.h"
#include "common/strings.h"
#include "common/yaml.h"
#include "controller/options.h"
#include "triggers/options.h"

namespace {

using nlohmann::json;

std::string SourcePath(const std::string& relative) { return std::string(ZS_SOURCE_DIR) + "/" + relative; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// One install: every object a user would apply together.
struct Install {
  std::string name;
  std::vector<std::string> files;
  std::string namespace_;
  std::string prefix;  // object-name prefix (fullname)
  std::string image;
};

void PrintTo(const Install& install, std::ostream* os) { *os << install.name; }

// image.tag defaults to the chart's appVersion.
std::string AppVersion() {
  static const std::regex kLine(R"re(^appVersion: *"?([^"\s]+)"?)re");
  std::istringstream chart(ReadFile(SourcePath("charts/zeroscale/Chart.yaml")));
  std::smatch m;
  for (std::string line; std::getline(chart, line);) {
    if (std::regex_search(line, m, kLine)) return m[1];
  }
  ADD_FAILURE() << "no appVersion in Chart.yaml";
  return "";
}

std::vector<Install> Installs() {
  return {
      {"deploy",
       {"deploy/00-namespace.yaml", "deploy/controller.yaml", "deploy/activator.yaml", "deploy/triggers.yaml",
        "deploy/dashboard.yaml", "deploy/user-roles.yaml"},
       "zeroscale-system",
       "zeroscale",
       "zeroscale/zeroscale:" + AppVersion()},
      {"chart_default",
       {"tests/install/golden/default.yaml"},
       "zeroscale-system",
       "zeroscale",
       "zeroscale/zeroscale:" + AppVersion()},
      {"chart_custom",
       {"tests/install/golden/custom.yaml"},
       "serverless",
       "fn",
       "registry.example/acme/"
       "zeroscale@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
  };
}

std::vector<json> Load(const Install& install) {
  std::vector<json> objects;
  for (const std::string& file : install.files) {
    auto docs = zs::YamlFileToJson(SourcePath(file));
    EXPECT_TRUE(docs.ok()) << file << ": " << docs.status();
    if (!docs.ok()) continue;
    for (json& doc : *docs) {
      if (doc.is_object()) objects.push_back(std::move(doc));
    }
  }
  return objects;
}

std::vector<json> OfKind(const std::vector<json>& objects, const std::string& kind) {
  std::vector<json> out;
  for (const json& o : objects) {
    if (o.value("kind", "") == kind) out.push_back(o);
  }
  return out;
}

const json* Find(const std::vector<json>& objects, const std::string& kind, const std::string& name) {
  for (const json& o : objects) {
    if (o.value("kind", "") == kind && o["metadata"].value("name", "") == name) return &o;
  }
  return nullptr;
}

bool Selects(const json& selector, const json& labels) {
  if (!selector.is_object() || selector.empty()) return false;
  for (const auto& [k, v] : selector.items()) {
    if (!labels.contains(k) || labels[k] != v) return false;
  }
  return true;
}

class InstallTest : public ::testing::TestWithParam<Install> {
 protected:
  void SetUp() override { objects_ = Load(GetParam()); }
  const json& Deployment(const std::string& component) {
    const json* d = Find(objects_, "Deployment", GetParam().prefix + "-" + component);
    if (d == nullptr) {
      static const json kEmpty = json::object();
      ADD_FAILURE() << "no Deployment " << GetParam().prefix << "-" << component;
      return kEmpty;
    }
    return *d;
  }
  std::vector<json> objects_;
};

TEST_P(InstallTest, EveryNamespacedObjectIsInTheInstallNamespace) {
  static const std::set<std::string> kClusterScoped = {"Namespace", "ClusterRole", "ClusterRoleBinding",
                                                       "CustomResourceDefinition"};
  ASSERT_FALSE(objects_.empty());
  for (const json& o : objects_) {
    const std::string kind = o.value("kind", "");
    const std::string name = o["metadata"].value("name", "");
    if (kClusterScoped.count(kind)) {
      EXPECT_FALSE(o["metadata"].contains("namespace")) << kind << " " << name;
    } else if (kind == "ConfigMap" && name.ends_with("-dashboard")) {
      EXPECT_TRUE(o["metadata"].contains("namespace")) << name;  // dashboard.namespace may move it
    } else {
      EXPECT_EQ(o["metadata"].value("namespace", ""), GetParam().namespace_) << kind << " " << name;
    }
    EXPECT_EQ(o["metadata"]["labels"].value("app.kubernetes.io/name", ""), "zeroscale")
        << kind << " " << name;
  }
}

TEST_P(InstallTest, PodsAreHardened) {
  for (const json& d : OfKind(objects_, "Deployment")) {
    const std::string name = d["metadata"]["name"];
    const json& pod = d["spec"]["template"]["spec"];
    SCOPED_TRACE(name);
    EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], true);
    EXPECT_EQ(pod["securityContext"]["runAsUser"], 65532);
    EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    EXPECT_FALSE(pod.value("hostNetwork", false));
    EXPECT_FALSE(pod.value("hostPID", false));
    EXPECT_NE(pod.value("automountServiceAccountToken", true), false)
        << "the binaries use the in-cluster token";
    // Nothing of ours needs a volume; the ones users add (extraVolumes, e.g.
    // for the billing log) are never host paths.
    for (const json& volume : pod.value("volumes", json::array())) {
      EXPECT_FALSE(volume.contains("hostPath")) << volume.dump();
    }
    if (GetParam().name != "chart_custom") {
      EXPECT_FALSE(pod.contains("volumes"));
    }
    ASSERT_EQ(pod["containers"].size(), 1u);
    const json& c = pod["containers"][0];
    EXPECT_EQ(c["image"], GetParam().image);
    EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false);
    EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
    EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
    EXPECT_FALSE(c["securityContext"]["capabilities"].contains("add"));
    EXPECT_FALSE(c["securityContext"].value("privileged", false));
    for (const char* kind : {"requests", "limits"}) {
      for (const char* resource : {"cpu", "memory"}) {
        EXPECT_TRUE(c["resources"][kind].contains(resource)) << kind << "." << resource;
      }
    }
    // Probes hit the binaries' AdminServer on the named health port.
    std::set<std::string> port_names;
    for (const json& p : c["ports"]) port_names.insert(p["name"].get<std::string>());
    EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    EXPECT_TRUE(port_names.count(c["livenessProbe"]["httpGet"]["port"].get<std::string>()));
    EXPECT_TRUE(port_names.count(c["readinessProbe"]["httpGet"]["port"].get<std::string>()));
    // The ServiceAccount it runs as is part of the install.
    EXPECT_NE(Find(objects_, "ServiceAccount", pod["serviceAccountName"]), nullptr)
        << pod["serviceAccountName"];
  }
}

// The rules each component needs, as (apiGroup, resource, verb) triples.
using Rules = std::set<std::tuple<std::string, std::string, std::string>>;

Rules Expand(const json& rules) {
  Rules out;
  for (const json& r : rules) {
    EXPECT_FALSE(r.contains("resourceNames")) << r.dump();
    for (const json& g : r["apiGroups"]) {
      for (const json& res : r["resources"]) {
        for (const json& v : r["verbs"]) out.emplace(g, res, v);
      }
    }
  }
  return out;
}

Rules Product(const std::string& group, const std::vector<std::string>& resources,
              const std::vector<std::string>& verbs) {
  Rules out;
  for (const auto& r : resources) {
    for (const auto& v : verbs) out.emplace(group, r, v);
  }
  return out;
}

Rules Union(std::initializer_list<Rules> parts) {
  Rules out;
  for (const Rules& p : parts) out.insert(p.begin(), p.end());
  return out;
}

TEST_P(InstallTest, RbacIsExactlyWhatEachComponentUses) {
  const std::string& prefix = GetParam().prefix;
  // What the audit log shows each component using (install_rbac_audit),
  // plus the grants tests/install/rbac-unused.txt explains.
  const std::vector<std::string> kApplied = {"get", "list", "watch", "create", "patch"};
  const Rules controller_cluster = Union({
      Product("zeroscale.dev", {"functions"}, {"list", "watch"}),
      Product("zeroscale.dev", {"functions/status"}, {"patch"}),
      Product("zeroscale.dev", {"functions/finalizers"}, {"update"}),
      Product("apps", {"deployments"}, kApplied), Product("apps", {"deployments/scale"}, {"patch"}),
      Product("", {"services"}, kApplied), Product("", {"events"}, {"create", "patch"}),
      Product("", {"pods"}, {"list", "watch"}),                        // why a Function's pods do not start
      Product("authentication.k8s.io", {"tokenreviews"}, {"create"}),  // the activator's gRPC token
  });
  const Rules controller_ns =
      Product("coordination.k8s.io", {"leases"}, {"get", "watch", "create", "update"});
  const Rules activator_cluster = Union({
      Product("zeroscale.dev", {"functions"}, {"list", "watch"}),
      Product("discovery.k8s.io", {"endpointslices"}, {"list", "watch"}),
  });
  const Rules activator_ns = Product("coordination.k8s.io", {"leases"}, {"get"});
  // Triggers read Functions and patch their status (claims and outcomes),
  // and get the Secrets broker triggers name unless triggers.readSecrets is
  // off (the custom install).
  const bool read_secrets = GetParam().name != "chart_custom";
  Rules triggers_cluster = Union({
      Product("zeroscale.dev", {"functions"}, {"get", "list", "watch"}),
      Product("zeroscale.dev", {"functions/status"}, {"patch"}),
  });
  if (read_secrets) triggers_cluster = Union({triggers_cluster, Product("", {"secrets"}, {"get"})});

  auto rules_of = [&](const std::string& kind, const std::string& name) {
    const json* role = Find(objects_, kind, name);
    EXPECT_NE(role, nullptr) << kind << " " << name;
    return role ? Expand((*role)["rules"]) : Rules{};
  };
  EXPECT_EQ(rules_of("ClusterRole", prefix + "-controller"), controller_cluster);
  EXPECT_EQ(rules_of("Role", prefix + "-controller-leader-election"), controller_ns);
  EXPECT_EQ(rules_of("ClusterRole", prefix + "-activator"), activator_cluster);
  EXPECT_EQ(rules_of("Role", prefix + "-activator-leader-lookup"), activator_ns);
  EXPECT_EQ(rules_of("ClusterRole", prefix + "-triggers"), triggers_cluster);
  EXPECT_EQ(rules_of("Role", prefix + "-triggers-leader-election"), controller_ns);

  // No wildcard anywhere, and no Secrets but the triggers' get by name;
  // each binding gives its role to its own component's ServiceAccount only.
  for (const char* kind : {"ClusterRole", "Role"}) {
    for (const json& role : OfKind(objects_, kind)) {
      const bool triggers = role["metadata"].value("name", "") == prefix + "-triggers";
      for (const auto& [group, resource, verb] : Expand(role["rules"])) {
        EXPECT_NE(group, "*");
        EXPECT_NE(resource, "*");
        EXPECT_NE(verb, "*");
        if (resource == "secrets") {
          EXPECT_TRUE(triggers && verb == "get") << role["metadata"]["name"] << " " << verb << " secrets";
        }
      }
    }
  }
  for (const char* kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const json& b : OfKind(objects_, kind)) {
      const std::string role = b["roleRef"]["name"];
      const std::string component = role.starts_with(prefix + "-controller") ? "controller"
                                    : role.starts_with(prefix + "-triggers") ? "triggers"
                                                                             : "activator";
      ASSERT_EQ(b["subjects"].size(), 1u);
      EXPECT_EQ(b["subjects"][0]["kind"], "ServiceAccount");
      EXPECT_EQ(b["subjects"][0]["name"], zs::Cat(prefix, "-", component));
      EXPECT_EQ(b["subjects"][0]["namespace"], GetParam().namespace_);
      EXPECT_NE(Find(objects_, b["roleRef"]["kind"], role), nullptr) << role;
    }
  }
}

std::vector<std::string> Args(const json& deployment) {
  std::vector<std::string> args;
  for (const json& a : deployment["spec"]["template"]["spec"]["containers"][0]["args"]) args.push_back(a);
  return args;
}

// Several replicas, so elected, in the release's namespace, with client-go's
// ordering of the timings.
void ExpectElected(const zs::kube::LeaderElectionOptions& election, const json& deployment,
                   const std::string& namespace_) {
  EXPECT_TRUE(election.leader_elect) << "more than one replica needs leader election";
  EXPECT_GT(deployment["spec"]["replicas"].get<int>(), 1);
  EXPECT_EQ(election.leader_election_namespace, namespace_);
  EXPECT_LT(election.renew_deadline, election.lease_duration);
  EXPECT_LT(election.retry_period, election.renew_deadline);
}

TEST_P(InstallTest, ControllerFlagsParseWithTheControllersOwnFlagSet) {
  const json& d = Deployment("controller");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["command"][0],
            "/usr/local/bin/zeroscale-controller");
  zs::controller::Options options;
  zs::FlagSet flags("zeroscale-controller", "");
  options.Register(flags);
  auto parsed = flags.Parse(Args(d));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, zs::FlagSet::Outcome::kRun);
  ExpectElected(options.election, d, GetParam().namespace_);
  // The Lease holder names the pod's gRPC address, which activators dial.
  EXPECT_EQ(options.grpc_advertise_address, "$(POD_IP):9090");
  EXPECT_EQ(options.grpc_bind_address, ":9090");
}

TEST_P(InstallTest, ActivatorFlagsParseWithTheActivatorsOwnFlagSet) {
  const json& d = Deployment("activator");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["command"][0],
            "/usr/local/bin/zeroscale-activator");
  zs::activator::Options options;
  zs::FlagSet flags("zeroscale-activator", "");
  options.Register(flags);
  auto parsed = flags.Parse(Args(d));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, zs::FlagSet::Outcome::kRun);
  // It finds the controller through the controller's Lease, in this namespace.
  zs::controller::Options controller;
  zs::FlagSet controller_flags("zeroscale-controller", "");
  controller.Register(controller_flags);
  ASSERT_TRUE(controller_flags.Parse(Args(Deployment("controller"))).ok());
  EXPECT_EQ(options.leader_election_namespace, controller.election.leader_election_namespace);
  EXPECT_EQ(options.leader_election_id, controller.election.leader_election_id);
  EXPECT_EQ(options.domain, controller.domain);
  EXPECT_TRUE(options.controller_address.empty());
  // The pod outlives the drain: SIGKILL only after the delay and the drain.
  const int grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"];
  EXPECT_GT(std::chrono::seconds(grace), options.drain_delay + options.drain_timeout);
}

TEST_P(InstallTest, TriggersFlagsParseWithTheirOwnFlagSet) {
  const json& d = Deployment("triggers");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["command"][0],
            "/usr/local/bin/zeroscale-triggers");
  zs::triggers::Options options;
  zs::FlagSet flags("zeroscale-triggers", "");
  options.Register(flags);
  auto parsed = flags.Parse(Args(d));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, zs::FlagSet::Outcome::kRun);
  ExpectElected(options.election, d, GetParam().namespace_);
  EXPECT_NE(options.election.leader_election_id, "zeroscale-controller")
      << "its own Lease, not the controller's";
  EXPECT_EQ(options.testing_time_scale, 1) << "the test-only clock is never set by the chart";
  // It invokes Functions through the activator's Service.
  EXPECT_EQ(options.activator_url,
            zs::Cat("http://", GetParam().prefix, "-activator.", GetParam().namespace_, ".svc"));
  const int grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"];
  EXPECT_GT(std::chrono::seconds(grace), options.drain_timeout);
}

TEST_P(InstallTest, ServicesAndBudgetsSelectTheirPods) {
  std::map<std::string, json> pod_labels;  // component -> pod template labels
  std::map<std::string, std::map<std::string, int>> named_ports;
  for (const json& d : OfKind(objects_, "Deployment")) {
    const json& labels = d["spec"]["template"]["metadata"]["labels"];
    const std::string component = labels["app.kubernetes.io/component"];
    EXPECT_TRUE(Selects(d["spec"]["selector"]["matchLabels"], labels)) << component;
    pod_labels[component] = labels;
    for (const json& p : d["spec"]["template"]["spec"]["containers"][0]["ports"]) {
      named_ports[component][p["name"]] = p["containerPort"];
    }
  }
  ASSERT_EQ(pod_labels.size(), 3u);
  for (const json& s : OfKind(objects_, "Service")) {
    const std::string name = s["metadata"]["name"];
    int matches = 0;
    for (const auto& [component, labels] : pod_labels) {
      if (!Selects(s["spec"]["selector"], labels)) continue;
      ++matches;
      for (const json& p : s["spec"]["ports"]) {
        EXPECT_TRUE(named_ports[component].count(p["targetPort"])) << name << " -> " << p["targetPort"];
      }
    }
    EXPECT_EQ(matches, 1) << name << " selects exactly one component";
  }
  const json* activator = Find(objects_, "Service", GetParam().prefix + "-activator");
  ASSERT_NE(activator, nullptr);
  EXPECT_EQ((*activator)["spec"]["ports"][0]["targetPort"], "http");
  for (const json& pdb : OfKind(objects_, "PodDisruptionBudget")) {
    int matches = 0;
    for (const auto& [component, labels] : pod_labels)
      matches += Selects(pdb["spec"]["selector"]["matchLabels"], labels);
    EXPECT_EQ(matches, 1) << pdb["metadata"]["name"];
  }
}

// NetworkPolicies (custom values): each guards one component's pods, names
// ports its pods have, and the controller's gRPC port admits only activators.
TEST_P(InstallTest, NetworkPoliciesGuardTheirComponent) {
  const std::vector<json> policies = OfKind(objects_, "NetworkPolicy");
  if (GetParam().name != "chart_custom") {
    EXPECT_TRUE(policies.empty()) << "off by default";
    return;
  }
  ASSERT_EQ(policies.size(), 3u);
  std::map<std::string, json> pod_labels;
  std::map<std::string, std::set<std::string>> port_names;
  for (const json& d : OfKind(objects_, "Deployment")) {
    const json& labels = d["spec"]["template"]["metadata"]["labels"];
    pod_labels[labels["app.kubernetes.io/component"]] = labels;
    for (const json& p : d["spec"]["template"]["spec"]["containers"][0]["ports"]) {
      port_names[labels["app.kubernetes.io/component"]].insert(p["name"]);
    }
  }
  for (const json& np : policies) {
    const std::string name = np["metadata"]["name"];
    std::string guarded;
    for (const auto& [component, labels] : pod_labels) {
      if (Selects(np["spec"]["podSelector"]["matchLabels"], labels)) guarded = component;
    }
    ASSERT_FALSE(guarded.empty()) << name;
    EXPECT_EQ(np["spec"]["policyTypes"], json::array({"Ingress"})) << name;
    for (const json& rule : np["spec"]["ingress"]) {
      for (const json& port : rule["ports"]) {
        EXPECT_TRUE(port_names[guarded].count(port["port"])) << name << ": " << port["port"];
        if (port["port"] == "grpc") {
          ASSERT_EQ(rule["from"].size(), 1u) << name;
          EXPECT_TRUE(Selects(rule["from"][0]["podSelector"]["matchLabels"], pod_labels["activator"]));
          EXPECT_FALSE(Selects(rule["from"][0]["podSelector"]["matchLabels"], pod_labels["controller"]));
        }
        if (port["port"] == "http") {
          // activatorFrom, the triggers' pods, which invoke Functions
          // through it, or the other activators, which relay a capped
          // Function's requests to its owner.
          const json& from = rule["from"][0];
          EXPECT_TRUE(from.contains("namespaceSelector")
                          ? from["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] ==
                                "ingress-nginx"
                          : Selects(from["podSelector"]["matchLabels"], pod_labels["triggers"]) ||
                                Selects(from["podSelector"]["matchLabels"], pod_labels["activator"]))
              << name << ": " << rule;
        }
      }
    }
  }
}

// Everything in front of the activator (Ingress, HTTPRoute) and its HPA
// point at the activator's Service and Deployment.
TEST_P(InstallTest, ExposureAndAutoscalingTargetTheActivator) {
  const std::string service = GetParam().prefix + "-activator";
  const json* svc = Find(objects_, "Service", service);
  ASSERT_NE(svc, nullptr);
  const json port = (*svc)["spec"]["ports"][0]["port"];
  for (const json& ingress : OfKind(objects_, "Ingress")) {
    for (const json& rule : ingress["spec"]["rules"]) {
      for (const json& path : rule["http"]["paths"]) {
        EXPECT_EQ(path["backend"]["service"]["name"], service);
        EXPECT_EQ(path["backend"]["service"]["port"]["number"], port);
      }
    }
    // timeoutSeconds up to 900 plus a buffer wait up to 900.
    EXPECT_GE(std::stoi(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]
                            .get<std::string>()),
              1800);
  }
  for (const json& route : OfKind(objects_, "HTTPRoute")) {
    for (const json& rule : route["spec"]["rules"]) {
      EXPECT_EQ(rule["backendRefs"][0]["name"], service);
      EXPECT_EQ(rule["backendRefs"][0]["port"], port);
      EXPECT_EQ(rule["timeouts"]["request"], "1800s");
    }
  }
  for (const json& hpa : OfKind(objects_, "HorizontalPodAutoscaler")) {
    EXPECT_EQ(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    EXPECT_EQ(hpa["spec"]["scaleTargetRef"]["name"], service);
    const json* d = Find(objects_, "Deployment", service);
    ASSERT_NE(d, nullptr);
    EXPECT_FALSE((*d)["spec"].contains("replicas")) << "the HPA owns the replica count";
  }
  const bool custom = GetParam().name == "chart_custom";
  EXPECT_EQ(OfKind(objects_, "Ingress").size(), custom ? 1u : 0u);
  EXPECT_EQ(OfKind(objects_, "HTTPRoute").size(), custom ? 1u : 0u);
  EXPECT_EQ(OfKind(objects_, "HorizontalPodAutoscaler").size(), custom ? 1u : 0u);
}

// Per-Function series carry the Function's namespace: the ServiceMonitor
// must let it win over the target's.
TEST_P(InstallTest, ServiceMonitorHonoursTheFunctionsNamespace) {
  for (const json& sm : OfKind(objects_, "ServiceMonitor")) {
    for (const json& endpoint : sm["spec"]["endpoints"]) EXPECT_EQ(endpoint["honorLabels"], true);
  }
}

INSTANTIATE_TEST_SUITE_P(Installs, InstallTest, ::testing::ValuesIn(Installs()),
                         [](const auto& info) { return info.param.name; });

// The documented defaults (docs/operations.md) for the plain install.
TEST(DeployTest, DefaultInstallShape) {
  const std::vector<json> objects = Load(Installs()[0]);
  const json* ns = Find(objects, "Namespace", "zeroscale-system");
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ((*ns)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
  const json* controller = Find(objects, "Deployment", "zeroscale-controller");
  ASSERT_NE(controller, nullptr);
  EXPECT_EQ((*controller)["spec"]["replicas"], 2);
  const json* service = Find(objects, "Service", "zeroscale-activator");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ((*service)["spec"]["ports"][0]["port"], 80);
  const json* activator = Find(objects, "Deployment", "zeroscale-activator");
  ASSERT_NE(activator, nullptr);
  EXPECT_EQ((*activator)["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 8000);
  EXPECT_NE(Find(objects, "PodDisruptionBudget", "zeroscale-activator"), nullptr);
  EXPECT_NE(Find(objects, "Service", "zeroscale-controller-metrics"), nullptr);
  EXPECT_NE(Find(objects, "Service", "zeroscale-activator-metrics"), nullptr);
  EXPECT_NE(Find(objects, "Service", "zeroscale-triggers-metrics"), nullptr);
  const json* triggers = Find(objects, "Deployment", "zeroscale-triggers");
  ASSERT_NE(triggers, nullptr);
  EXPECT_EQ((*triggers)["spec"]["replicas"], 2);
  EXPECT_NE(Find(objects, "PodDisruptionBudget", "zeroscale-triggers"), nullptr);
  // Activators apart by default: another node preferred, zones spread.
  const json& pod = (*activator)["spec"]["template"]["spec"];
  EXPECT_EQ(pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
               ["podAffinityTerm"]["topologyKey"],
            "kubernetes.io/hostname");
  EXPECT_EQ(pod["topologySpreadConstraints"][0]["topologyKey"], "topology.kubernetes.io/zone");
  EXPECT_EQ(pod["topologySpreadConstraints"][0]["whenUnsatisfiable"], "ScheduleAnyway");
}

// Namespace users get Functions through the built-in roles: view reads,
// edit and admin also write; status stays the controller's.
TEST(DeployTest, FunctionsAggregateIntoTheBuiltInUserRoles) {
  const std::vector<json> objects = Load(Installs()[0]);
  const json* view = Find(objects, "ClusterRole", "zeroscale-view");
  const json* edit = Find(objects, "ClusterRole", "zeroscale-edit");
  ASSERT_NE(view, nullptr);
  ASSERT_NE(edit, nullptr);
  EXPECT_EQ(Expand((*view)["rules"]),
            Product("zeroscale.dev", {"functions", "functions/status"}, {"get", "list", "watch"}));
  EXPECT_EQ(Expand((*edit)["rules"]), Product("zeroscale.dev", {"functions"},
                                              {"create", "update", "patch", "delete", "deletecollection"}));
  for (const char* role : {"view", "edit", "admin"}) {
    EXPECT_EQ(
        (*view)["metadata"]["labels"].value(zs::Cat("rbac.authorization.k8s.io/aggregate-to-", role), ""),
        "true")
        << role;
  }
  EXPECT_FALSE((*edit)["metadata"]["labels"].contains("rbac.authorization.k8s.io/aggregate-to-view"));
}

// --- the Grafana dashboard ---------------------------------------------------

json Dashboard() { return json::parse(ReadFile(SourcePath("charts/zeroscale/dashboards/zeroscale.json"))); }

std::vector<std::string> Exprs(const json& dashboard) {
  std::vector<std::string> out;
  for (const json& panel : dashboard["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const json& t : panel["targets"]) out.push_back(t.value("expr", ""));
  }
  return out;
}

TEST(DashboardTest, QueriesEveryMetricDesignNames) {
  const std::vector<std::string> exprs = Exprs(Dashboard());
  for (const char* metric :
       {"zeroscale_invocations_total", "zeroscale_invocation_duration_seconds_bucket",
        "zeroscale_cold_start_wait_seconds_bucket", "zeroscale_cold_starts_total",
        "zeroscale_billable_gb_seconds_total", "zeroscale_requests_in_flight", "zeroscale_requests_queued",
        "zeroscale_rejected_requests_total", "zeroscale_function_desired_replicas",
        "zeroscale_function_ready_replicas", "zeroscale_scale_events_total"}) {
    EXPECT_TRUE(std::any_of(exprs.begin(), exprs.end(), [&](const std::string& e) {
      return e.find(metric) != std::string::npos;
    })) << metric;
  }
}

TEST(DashboardTest, QueriesAreSimpleAndUseOnlyZeroscaleMetrics) {
  const json dashboard = Dashboard();
  const std::regex metric_name(R"(\b(zeroscale_[a-z_]+)\b)");
  const std::set<std::string> known = {"zeroscale_invocations_total",
                                       "zeroscale_invocation_duration_seconds_bucket",
                                       "zeroscale_cold_start_wait_seconds_bucket",
                                       "zeroscale_cold_starts_total",
                                       "zeroscale_billable_gb_seconds_total",
                                       "zeroscale_requests_in_flight",
                                       "zeroscale_requests_queued",
                                       "zeroscale_rejected_requests_total",
                                       "zeroscale_function_desired_replicas",
                                       "zeroscale_function_ready_replicas",
                                       "zeroscale_scale_events_total",
                                       "zeroscale_billing_lines_written_total",
                                       "zeroscale_billing_lines_dropped_total",
                                       "zeroscale_trigger_events_total",
                                       "zeroscale_trigger_pending",
                                       "zeroscale_trigger_connected",
                                       "zeroscale_trigger_fire_delay_seconds_bucket"};
  // Per activator, not per Function: these carry no namespace/function labels.
  const std::set<std::string> activator_wide = {"zeroscale_billing_lines_written_total",
                                                "zeroscale_billing_lines_dropped_total"};
  for (const std::string& e : Exprs(dashboard)) {
    SCOPED_TRACE(e);
    ASSERT_FALSE(e.empty());
    int metrics = 0;
    bool per_function = true;
    for (std::sregex_iterator it(e.begin(), e.end(), metric_name), end; it != end; ++it) {
      EXPECT_TRUE(known.count((*it)[1].str())) << (*it)[1].str();
      per_function = !activator_wide.count((*it)[1].str());
      ++metrics;
    }
    EXPECT_EQ(metrics, 1) << "one metric per query";
    // Filtered by the two dashboard variables, and nothing else Grafana-specific.
    if (per_function) {
      EXPECT_NE(e.find(R"(namespace=~"$namespace", function=~"$function")"), std::string::npos);
    }
    std::string rest =
        std::regex_replace(e, std::regex(R"(\$(namespace|function|__rate_interval|__range)\b)"), "");
    EXPECT_EQ(rest.find('$'), std::string::npos);
    if (e.find("_bucket") != std::string::npos) {
      EXPECT_NE(e.find("histogram_quantile("), std::string::npos);
      EXPECT_NE(e.find(" le)"), std::string::npos) << "quantiles aggregate by le";
    }
    if (e.find("_total") != std::string::npos) {
      EXPECT_TRUE(e.find("rate(") != std::string::npos || e.find("increase(") != std::string::npos)
          << "counters are read as rates or increases";
    }
  }
}

TEST(DashboardTest, PanelsAreWellFormed) {
  const json dashboard = Dashboard();
  EXPECT_EQ(dashboard["uid"], "zeroscale");
  std::set<int> ids;
  std::vector<std::string> titles;
  for (const json& panel : dashboard["panels"]) {
    EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second) << "duplicate id " << panel["id"];
    titles.push_back(panel["title"]);
    if (panel["type"] == "row") continue;
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << panel["title"];
    EXPECT_FALSE(panel.value("description", "").empty()) << panel["title"];
    for (const json& t : panel["targets"])
      EXPECT_EQ(t["datasource"]["uid"], "${datasource}") << panel["title"];
  }
  // The billing panel, and the rest docs/metrics-and-billing.md lists.
  for (const char* title :
       {"Invocations by code", "Rejected requests by reason", "Invocation duration p50 / p99", "Cold starts",
        "Cold-start wait p50 / p99", "Billable GB-seconds in range by function",
        "GB-seconds per second by namespace", "Queue depth", "In flight", "Desired vs ready replicas",
        "Scale events", "Billing log lines"}) {
    EXPECT_THAT(titles, ::testing::Contains(title));
  }
  std::set<std::string> variables;
  for (const json& v : dashboard["templating"]["list"]) variables.insert(v["name"]);
  EXPECT_EQ(variables, (std::set<std::string>{"datasource", "namespace", "function"}));
}

TEST(DashboardTest, ConfigMapCarriesTheFileAndTheSidecarLabel) {
  const std::vector<json> objects = Load(Installs()[0]);
  const json* cm = Find(objects, "ConfigMap", "zeroscale-dashboard");
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ((*cm)["metadata"]["labels"]["grafana_dashboard"], "1");
  EXPECT_EQ(json::parse((*cm)["data"]["zeroscale.json"].get<std::string>()), Dashboard());
}

}  // namespace
