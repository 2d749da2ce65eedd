// The activator's Kubernetes inputs: informers that keep the in-memory
// catalog (Functions) and endpoint store (ready addresses from
// EndpointSlices) current, and a lookup of the elected controller's gRPC
// address from its Lease.
//
// Only EndpointSlices that Kubernetes made for the Function's own Service
// are trusted: labelled endpointslice.kubernetes.io/managed-by=
// endpointslice-controller.k8s.io and kubernetes.io/service-name=<the
// Service the controller owns for the Function, named after it>, in the
// Function's namespace, and carrying the zeroscale.dev/function label the
// EndpointSlice controller copies from that Service with the same name. A
// slice made by hand (or mirrored from a hand-made Endpoints object) with the
// Function's label is ignored, so whoever may create EndpointSlices in a
// namespace cannot make the activator dial an address of their choosing. The
// informer asks the apiserver for the two labels that say "zeroscale's and
// Kubernetes'" and every slice is checked again here. An address is ready when its conditions.ready is not
// false (Kubernetes' own reading: absent means ready); it is dialled on the slice port named "http", else on
// the Function's port. Only such addresses of known Functions ever reach the store, so the proxy dials
// nothing else. A starting address (ready=false, not terminating) is probed with TCP connects
// (StartingProber, the same test as the TCP readiness probe the controller gives every Function) and joins
// the ready ones once it accepts, until its slice marks it ready or drops it.
//
// Lifecycle: construct, Start(), WaitForSync(), Stop() once.
// Thread-safety: informer handlers run on informer threads; the stores they
// feed are thread-safe. ControllerAddress() may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "activator/admission/catalog.h"
#include "activator/admission/endpoints.h"
#include "activator/sources/prober.h"
#include "common/clock.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"

namespace zs::activator {

// The endpoints of one Function from all of its EndpointSlices, ready and
// starting (conditions.ready false, not terminating); pure, exposed for tests.
struct SlicedEndpoints {
  std::vector<Endpoint> ready;
  std::vector<Endpoint> starting;
};
SlicedEndpoints SliceEndpoints(const std::vector<nlohmann::json>& slices, uint16_t default_port);
std::vector<Endpoint> ReadyEndpoints(const std::vector<nlohmann::json>& slices, uint16_t default_port);

// The label selector of the EndpointSlice informer.
extern const char kTrustedSliceSelector[];
// The Function whose Service Kubernetes made `slice` for, or nullopt when the
// slice is not one to trust (see the file comment); pure, for tests.
std::optional<std::string> TrustedSliceFunction(const nlohmann::json& slice);

// "name@10.88.1.5:9090" -> "10.88.1.5:9090"; nullopt without an '@'.
std::optional<std::string> AddressFromHolderIdentity(const std::string& holder);

class KubeSources {
 public:
  struct Options {
    std::string watch_namespace;  // empty: all
    // Probe starting addresses this often (StartingProber); zero: wait for
    // Kubernetes to mark them ready.
    Duration probe_interval = std::chrono::milliseconds(5);
  };
  KubeSources(kube::KubeClient& client, Clock& clock, InMemoryCatalog& catalog,
              InMemoryEndpointStore& endpoints, const Options& options);
  ~KubeSources();

  void Start();
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  bool HasSynced() const;
  void Stop();

 private:
  void OnFunction(const nlohmann::json& object, bool deleted);
  void OnSlice(const nlohmann::json& object, bool deleted);
  void Refresh(const std::string& ns, const std::string& name);

  InMemoryCatalog& catalog_;
  InMemoryEndpointStore& endpoints_;
  std::unique_ptr<StartingProber> prober_;
  std::mutex refresh_mu_;
  std::unique_ptr<kube::Informer> functions_;
  std::unique_ptr<kube::Informer> slices_;
  std::mutex mu_;
  // "ns/function" -> names of its slices, so a refresh reads only those.
  std::map<std::string, std::set<std::string>> slices_by_function_;
  // "ns/slice" -> the function it was last seen for, so a slice whose labels
  // change (or that stops being trusted) leaves its old Function at once.
  std::map<std::string, std::string> function_of_slice_;
  // "ns/function" -> starting addresses the prober saw accept.
  std::map<std::string, std::set<std::string>> accepting_;
};

// Polls the controller's leader Lease and returns the leader's gRPC address.
class LeaderLookup {
 public:
  LeaderLookup(kube::KubeClient& client, std::string lease_namespace, std::string lease_name);
  // The current leader's address, read from the apiserver now.
  absl::StatusOr<std::string> Resolve();

 private:
  kube::KubeClient& client_;
  const std::string lease_namespace_;
  const std::string lease_name_;
};

}  // namespace zs::activator
