#include "activator/sources/kube_sources.h"

#include "common/api/function.h"
#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"

namespace zs::activator {

using nlohmann::json;

namespace {
constexpr char kFunctionLabel[] = "zeroscale.dev/function";
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
constexpr char kEndpointSliceController[] = "endpointslice-controller.k8s.io";

std::optional<std::string> Label(const json& object, const char* name) {
  const json* labels = nullptr;
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    if (auto it = meta->find("labels"); it != meta->end() && it->is_object()) labels = &*it;
  }
  if (labels == nullptr) return std::nullopt;
  auto it = labels->find(name);
  if (it == labels->end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}
}  // namespace

const char kTrustedSliceSelector[] =
    "zeroscale.dev/function,endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io";

std::optional<std::string> TrustedSliceFunction(const json& slice) {
  if (Label(slice, kManagedByLabel) != kEndpointSliceController) return std::nullopt;
  auto service = Label(slice, kServiceNameLabel);
  // The controller names a Function's Service after the Function and labels
  // it with the Function's name; both must agree.
  if (!service || service->empty() || Label(slice, kFunctionLabel) != *service) return std::nullopt;
  return service;
}

std::vector<Endpoint> ReadyEndpoints(const std::vector<json>& slices, uint16_t default_port) {
  return SliceEndpoints(slices, default_port).ready;
}

SlicedEndpoints SliceEndpoints(const std::vector<json>& slices, uint16_t default_port) {
  SlicedEndpoints out;
  for (const json& slice : slices) {
    if (slice.value("addressType", "IPv4") != "IPv4" && slice.value("addressType", "") != "IPv6") continue;
    uint16_t port = default_port;
    if (auto ports = slice.find("ports"); ports != slice.end() && ports->is_array()) {
      for (const json& p : *ports) {
        if (p.value("name", "") == "http" && p.contains("port") && p["port"].is_number_integer()) {
          port = static_cast<uint16_t>(p["port"].get<int>());
        }
      }
    }
    auto endpoints = slice.find("endpoints");
    if (endpoints == slice.end() || !endpoints->is_array()) continue;
    for (const json& e : *endpoints) {
      const json conditions = e.value("conditions", json::object());
      if (conditions.value("terminating", false)) continue;
      const bool ready = !(conditions.contains("ready") && conditions["ready"].is_boolean() &&
                           !conditions["ready"].get<bool>());
      std::string pod;
      if (auto ref = e.find("targetRef"); ref != e.end() && ref->is_object()) pod = ref->value("name", "");
      for (const json& address : e.value("addresses", json::array())) {
        if (address.is_string())
          (ready ? out.ready : out.starting).push_back({address.get<std::string>(), port, pod});
      }
    }
  }
  return out;
}

std::optional<std::string> AddressFromHolderIdentity(const std::string& holder) {
  const auto at = holder.rfind('@');
  if (at == std::string::npos || at + 1 >= holder.size()) return std::nullopt;
  return holder.substr(at + 1);
}

KubeSources::KubeSources(kube::KubeClient& client, Clock& clock, InMemoryCatalog& catalog,
                         InMemoryEndpointStore& endpoints, const Options& options)
    : catalog_(catalog), endpoints_(endpoints) {
  if (options.probe_interval > Duration::zero()) {
    StartingProber::Options probe_options;
    probe_options.interval = options.probe_interval;
    prober_ = std::make_unique<StartingProber>(probe_options, clock,
                                               [this](const FunctionKey& key, const Endpoint& endpoint) {
                                                 {
                                                   std::lock_guard lock(mu_);
                                                   accepting_[key.String()].insert(endpoint.Address());
                                                 }
                                                 Refresh(key.ns, key.name);
                                               });
  }
  kube::InformerOptions fn_options;
  fn_options.name = "functions";
  functions_ = std::make_unique<kube::Informer>(client, clock, kube::kFunctions.In(options.watch_namespace),
                                                fn_options);
  kube::InformerOptions slice_options;
  slice_options.name = "endpointslices";
  slice_options.label_selector = kTrustedSliceSelector;
  slices_ = std::make_unique<kube::Informer>(client, clock, kube::kEndpointSlices.In(options.watch_namespace),
                                             slice_options);
  functions_->AddHandlers({[this](const json& o) { OnFunction(o, false); },
                           [this](const json&, const json& o) { OnFunction(o, false); },
                           [this](const json& o) { OnFunction(o, true); }});
  slices_->AddHandlers({[this](const json& o) { OnSlice(o, false); },
                        [this](const json&, const json& o) { OnSlice(o, false); },
                        [this](const json& o) { OnSlice(o, true); }});
}

KubeSources::~KubeSources() { Stop(); }

void KubeSources::Start() {
  if (prober_) prober_->Start();
  functions_->Start();
  slices_->Start();
}

bool KubeSources::WaitForSync(std::chrono::milliseconds timeout) const {
  return functions_->WaitForSync(timeout) && slices_->WaitForSync(timeout);
}

bool KubeSources::HasSynced() const { return functions_->HasSynced() && slices_->HasSynced(); }

void KubeSources::Stop() {
  if (prober_) prober_->Stop();
  functions_->Stop();
  slices_->Stop();
}

void KubeSources::OnFunction(const json& object, bool deleted) {
  const json meta = object.value("metadata", json::object());
  const std::string ns = meta.value("namespace", "");
  const std::string name = meta.value("name", "");
  if (deleted) {
    catalog_.Remove({ns, name});
    endpoints_.Remove({ns, name});
    return;
  }
  auto fn = api::DecodeFunction(object);
  if (!fn.ok() || !api::ValidateFunction(*fn).ok()) {
    // Not servable; an older valid config would be misleading too.
    catalog_.Remove({ns, name});
    log::Warn("function not routable",
              {{"function", Cat(ns, "/", name)},
               {"error", fn.ok() ? Message(api::ValidateFunction(*fn)) : Message(fn.status())}});
    return;
  }
  catalog_.Upsert(FunctionConfigFromApi(*fn));
  Refresh(ns, name);  // the port may have changed
}

void KubeSources::OnSlice(const json& object, bool deleted) {
  const json meta = object.value("metadata", json::object());
  const std::string ns = meta.value("namespace", "");
  const std::string slice_key = Cat(ns, "/", meta.value("name", ""));
  const std::optional<std::string> function = TrustedSliceFunction(object);
  std::optional<std::string> previous;  // a Function the slice no longer serves
  {
    std::lock_guard lock(mu_);
    auto it = function_of_slice_.find(slice_key);
    if (it != function_of_slice_.end() && (!function || it->second != *function)) previous = it->second;
    if (deleted || !function) {
      // Refreshing its Function reads a deleted slice as gone.
      if (it != function_of_slice_.end()) function_of_slice_.erase(it);
    } else {
      function_of_slice_[slice_key] = *function;
      slices_by_function_[Cat(ns, "/", *function)].insert(meta.value("name", ""));
    }
  }
  if (previous) Refresh(ns, *previous);
  if (function) Refresh(ns, *function);
}

void KubeSources::Refresh(const std::string& ns, const std::string& name) {
  // Informer threads and the prober refresh: one at a time, so an older view
  // can never overwrite a newer one in the store.
  std::lock_guard refreshing(refresh_mu_);
  std::set<std::string> names;
  {
    std::lock_guard lock(mu_);
    names = slices_by_function_[Cat(ns, "/", name)];
  }
  std::vector<json> slices;
  std::set<std::string> present;
  for (const std::string& slice_name : names) {
    auto slice = slices_->Get(Cat(ns, "/", slice_name));
    if (slice && TrustedSliceFunction(*slice) == name) {
      slices.push_back(*std::move(slice));
      present.insert(slice_name);
    }
  }
  {
    std::lock_guard lock(mu_);
    if (present.empty()) {
      slices_by_function_.erase(Cat(ns, "/", name));
    } else {
      slices_by_function_[Cat(ns, "/", name)] = present;
    }
  }
  auto config = catalog_.Lookup(ns, name);
  const uint16_t port = config ? config->port : static_cast<uint16_t>(api::Defaults::kPort);
  SlicedEndpoints sliced = SliceEndpoints(slices, port);
  if (prober_) {
    // A starting address that accepted a connection serves until its slice
    // says ready (then it is ready anyway) or drops it; the others are probed.
    std::vector<Endpoint> probe;
    {
      std::lock_guard lock(mu_);
      std::set<std::string>& accepting = accepting_[Cat(ns, "/", name)];
      std::set<std::string> still;
      for (Endpoint& endpoint : sliced.starting) {
        const std::string address = endpoint.Address();
        if (accepting.contains(address)) {
          still.insert(address);
          sliced.ready.push_back(std::move(endpoint));
        } else {
          probe.push_back(std::move(endpoint));
        }
      }
      accepting = std::move(still);
      if (accepting.empty()) accepting_.erase(Cat(ns, "/", name));
    }
    prober_->Watch({ns, name}, probe);
  }
  endpoints_.Update({ns, name}, std::move(sliced.ready));
}

LeaderLookup::LeaderLookup(kube::KubeClient& client, std::string lease_namespace, std::string lease_name)
    : client_(client), lease_namespace_(std::move(lease_namespace)), lease_name_(std::move(lease_name)) {}

absl::StatusOr<std::string> LeaderLookup::Resolve() {
  auto lease = client_.Get(kube::LeaseRef(lease_namespace_, lease_name_));
  if (!lease.ok()) return lease.status();
  const std::string holder = lease->value(json::json_pointer("/spec/holderIdentity"), std::string());
  auto address = AddressFromHolderIdentity(holder);
  if (!address) {
    return absl::UnavailableError(Cat("lease ", lease_namespace_, "/", lease_name_,
                                      " has no leader address (holder \"", holder, "\")"));
  }
  return *address;
}

}  // namespace zs::activator
