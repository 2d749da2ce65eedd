#include "activator/metering/metrics.h"

#include <string>
#include <unordered_set>

namespace zs::activator {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& Metrics::DurationBuckets() {
  // From a 1 ms hello-world to the 900 s ceiling of timeoutSeconds.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900};
  return kBuckets;
}

const prometheus::Histogram::BucketBoundaries& Metrics::ColdWaitBuckets() {
  // Waits behind a busy replica (ms) up to cold starts of minutes.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900};
  return kBuckets;
}

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      invocations_(BuildCounter()
                       .Name("zeroscale_invocations_total")
                       .Help("Finished invocations by HTTP status sent to the client (499: client left).")
                       .Register(*registry_)),
      duration_(BuildHistogram()
                    .Name("zeroscale_invocation_duration_seconds")
                    .Help("Time from forwarding a request to its last response byte; buffer wait excluded.")
                    .Register(*registry_)),
      cold_wait_(BuildHistogram()
                     .Name("zeroscale_cold_start_wait_seconds")
                     .Help("Time a request spent in the buffer waiting for a replica that could take it.")
                     .Register(*registry_)),
      cold_starts_(
          BuildCounter()
              .Name("zeroscale_cold_starts_total")
              .Help("Activations from zero: a request found no ready replica and the Function was woken.")
              .Register(*registry_)),
      gb_seconds_(BuildCounter()
                      .Name("zeroscale_billable_gb_seconds_total")
                      .Help("Sum of forward durations rounded up to 1 ms times the memory request in GiB.")
                      .Register(*registry_)),
      in_flight_(BuildGauge()
                     .Name("zeroscale_requests_in_flight")
                     .Help("Requests forwarded to a replica and not yet answered.")
                     .Register(*registry_)),
      queued_(BuildGauge()
                  .Name("zeroscale_requests_queued")
                  .Help("Requests held in the buffer.")
                  .Register(*registry_)),
      rejected_(BuildCounter()
                    .Name("zeroscale_rejected_requests_total")
                    .Help("Requests answered with an error by the activator, by reason: queue_full, "
                          "queue_timeout, exec_timeout, upstream_error, bad_request, client_closed, "
                          "client_timeout, shutdown.")
                    .Register(*registry_)),
      connections_closed_(BuildCounter()
                              .Name("zeroscale_activator_connections_closed_total")
                              .Help("Client connections closed by the activator before a request was read.")
                              .Register(*registry_)),
      billing_dropped_(BuildCounter()
                           .Name("zeroscale_billing_lines_dropped_total")
                           .Help("Billing lines that never reached the billing log, by reason: queue_full "
                                 "(the writer was behind by more than --billing-max-pending-bytes), "
                                 "write_error (still unwritable at shutdown).")
                           .Register(*registry_)) {
  connect_retries_ = &BuildCounter()
                          .Name("zeroscale_activator_connect_retries_total")
                          .Help("Connects to a ready endpoint that failed and were retried.")
                          .Register(*registry_)
                          .Add({});
  auto& relays = BuildCounter()
                     .Name("zeroscale_activator_relayed_requests_total")
                     .Help(
                         "Requests for a capped Function handed to the activator that owns it (result: "
                         "relayed, or unreachable: the owner could not be connected to, tried again).")
                     .Register(*registry_);
  relayed_ = &relays.Add({{"result", "relayed"}});
  relay_unreachable_ = &relays.Add({{"result", "unreachable"}});
  placement_activators_ = &BuildGauge()
                               .Name("zeroscale_activator_placement_activators")
                               .Help(
                                   "Activators in the placement this one applied last (0: none yet; it then "
                                   "serves every Function itself).")
                               .Register(*registry_)
                               .Add({});
  auto& wakes = BuildCounter()
                    .Name("zeroscale_activator_wakes_total")
                    .Help("Wake calls to the controller by result.")
                    .Register(*registry_);
  wakes_ok_ = &wakes.Add({{"result", "ok"}});
  wakes_error_ = &wakes.Add({{"result", "error"}});
  open_connections_ = &BuildGauge()
                           .Name("zeroscale_activator_open_connections")
                           .Help("Client connections currently open.")
                           .Register(*registry_)
                           .Add({});
  billing_written_ = &BuildCounter()
                          .Name("zeroscale_billing_lines_written_total")
                          .Help("Billing lines written to the billing log.")
                          .Register(*registry_)
                          .Add({});
  billing_write_errors_ = &BuildCounter()
                               .Name("zeroscale_billing_write_errors_total")
                               .Help("Failed writes to the billing log (the lines are kept and retried).")
                               .Register(*registry_)
                               .Add({});
  billing_pending_bytes_ = &BuildGauge()
                                .Name("zeroscale_billing_pending_bytes")
                                .Help("Billing log bytes held in memory, not yet written.")
                                .Register(*registry_)
                                .Add({});
  // Both reasons start at 0, so an alert on increase() sees the first drop.
  BillingLinesDropped("queue_full");
  BillingLinesDropped("write_error");
  unrouted_.reset(new FunctionMetrics(this, "", ""));
}

prometheus::Counter& Metrics::BillingLinesDropped(std::string_view reason) {
  std::lock_guard lock(closed_mu_);
  auto it = billing_dropped_by_reason_.find(std::string(reason));
  if (it != billing_dropped_by_reason_.end()) return *it->second;
  auto* counter = &billing_dropped_.Add({{"reason", std::string(reason)}});
  billing_dropped_by_reason_.emplace(std::string(reason), counter);
  return *counter;
}

void Metrics::Forget(const FunctionKey& key) {
  std::unique_ptr<FunctionMetrics> forgotten;
  {
    std::unique_lock lock(mu_);
    auto it = functions_.find(key);
    if (it == functions_.end()) return;
    forgotten = std::move(it->second);
    functions_.erase(it);
  }
  forgotten->RemoveAll();
}

size_t Metrics::function_count() const {
  std::shared_lock lock(mu_);
  return functions_.size();
}

void FunctionMetrics::RemoveAll() {
  if (name_.empty()) return;
  owner_->duration_.Remove(duration);
  owner_->cold_wait_.Remove(cold_wait);
  owner_->cold_starts_.Remove(cold_starts);
  owner_->gb_seconds_.Remove(gb_seconds);
  owner_->in_flight_.Remove(in_flight);
  owner_->queued_.Remove(queued);
  // Errors that share a reason label share one child: remove each once.
  std::unordered_set<prometheus::Counter*> rejected;
  for (auto& slot : by_reason_) {
    if (auto* counter = slot.exchange(nullptr)) rejected.insert(counter);
  }
  for (auto* counter : rejected) owner_->rejected_.Remove(counter);
  std::lock_guard lock(mu_);
  for (const auto& [code, counter] : by_code_) owner_->invocations_.Remove(counter);
  by_code_.clear();
}

FunctionMetrics& Metrics::For(const FunctionKey& key) {
  {
    std::shared_lock lock(mu_);
    auto it = functions_.find(key);
    if (it != functions_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = functions_[key];
  if (!slot) slot.reset(new FunctionMetrics(this, key.ns, key.name));
  return *slot;
}

prometheus::Counter& Metrics::ConnectionsClosed(std::string_view reason) {
  std::lock_guard lock(closed_mu_);
  auto it = closed_.find(std::string(reason));
  if (it != closed_.end()) return *it->second;
  auto* counter = &connections_closed_.Add({{"reason", std::string(reason)}});
  closed_.emplace(std::string(reason), counter);
  return *counter;
}

FunctionMetrics::FunctionMetrics(Metrics* owner, std::string ns, std::string name)
    : owner_(owner), ns_(std::move(ns)), name_(std::move(name)) {
  // The unrouted pseudo-function only counts invocations and rejections; no
  // empty-labelled duration, billing or gauge series.
  if (name_.empty()) return;
  const prometheus::Labels labels = {{"namespace", ns_}, {"function", name_}};
  duration = &owner_->duration_.Add(labels, Metrics::DurationBuckets());
  cold_wait = &owner_->cold_wait_.Add(labels, Metrics::ColdWaitBuckets());
  cold_starts = &owner_->cold_starts_.Add(labels);
  gb_seconds = &owner_->gb_seconds_.Add(labels);
  in_flight = &owner_->in_flight_.Add(labels);
  queued = &owner_->queued_.Add(labels);
  // Every reason starts at 0: a counter that appears only with its first
  // increment hides that increment from rate() and increase().
  for (ProxyError error : kAllErrors) {
    if (!Spec(error).reason.empty()) Rejected(error);
  }
}

prometheus::Counter& FunctionMetrics::Invocations(int code) {
  std::lock_guard lock(mu_);
  auto it = by_code_.find(code);
  if (it != by_code_.end()) return *it->second;
  auto* counter =
      &owner_->invocations_.Add({{"namespace", ns_}, {"function", name_}, {"code", std::to_string(code)}});
  by_code_.emplace(code, counter);
  return *counter;
}

prometheus::Counter& FunctionMetrics::Rejected(ProxyError error) {
  const auto index = static_cast<size_t>(error) % by_reason_.size();
  if (auto* counter = by_reason_[index].load(std::memory_order_acquire)) return *counter;
  // Family::Add returns the existing child for equal labels, so a race here
  // only stores the same pointer twice.
  auto* counter = &owner_->rejected_.Add(
      {{"namespace", ns_}, {"function", name_}, {"reason", std::string(Spec(error).reason)}});
  by_reason_[index].store(counter, std::memory_order_release);
  return *counter;
}

}  // namespace zs::activator
