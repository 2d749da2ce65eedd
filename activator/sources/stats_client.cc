#include "activator/sources/stats_client.h"

#include <algorithm>

#include "activator/sources/proto_convert.h"
#include "common/log.h"
#include "common/strings.h"

namespace zs::activator {

namespace pb = zeroscale::v1alpha1;

// One StreamStats call: writer on the reporting thread, acks read on a thread
// of its own. Healthy until a write fails, the call ends or an ack says the
// peer is not the leader.
class StatsClient::Stream {
 public:
  Stream(std::shared_ptr<pb::Autoscaler::Stub> stub, std::atomic<uint64_t>& not_leader_acks,
         const std::function<void(grpc::ClientContext&)>& authorize, Placement* placement,
         const std::function<void(const Placement::View&)>& on_placement)
      : stub_(std::move(stub)) {
    authorize(context_);
    stream_ = stub_->StreamStats(&context_);
    reader_ = std::thread([this, &not_leader_acks, placement, on_placement] {
      pb::StatsAck ack;
      bool warned = false;
      while (stream_->Read(&ack)) {
        if (!ack.leader()) {
          log::Warn("controller is not the leader; reconnecting");
          healthy_ = false;
          not_leader_acks.fetch_add(1);
          break;
        }
        if (placement == nullptr || !ack.has_placement()) continue;
        absl::StatusOr<Placement::View> view = FromProto(ack.placement());
        if (view.ok()) {
          if (view->generation != placement->generation()) {
            log::Info("activator placement applied",
                      {{"generation", static_cast<int64_t>(view->generation)},
                       {"activators", static_cast<int64_t>(view->ids.size())}});
          }
          if (on_placement) on_placement(*view);
          placement->Apply(*std::move(view));
        } else if (!warned) {
          log::Warn("placement refused", {{"error", std::string(view.status().message())}});
          warned = true;
        }
      }
      healthy_ = false;
    });
  }

  ~Stream() {
    context_.TryCancel();
    reader_.join();
    grpc::Status status = stream_->Finish();
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      log::Warn("stats stream ended",
                {{"code", static_cast<int>(status.error_code())}, {"error", status.error_message()}});
    }
  }

  bool healthy() const { return healthy_.load(); }

  bool Write(const pb::StatsReport& report) {
    if (!healthy_ || !stream_->Write(report)) {
      healthy_ = false;
      return false;
    }
    return true;
  }

 private:
  std::shared_ptr<pb::Autoscaler::Stub> stub_;  // the channel outlives the call
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::StatsReport, pb::StatsAck>> stream_;
  std::atomic<bool> healthy_{true};
  std::thread reader_;
};

StatsClient::StatsClient(Options options, LoadTracker& tracker, Clock& clock)
    : options_(std::move(options)), tracker_(tracker), clock_(clock) {
  if (!options_.controller_address.empty()) UseAddress(options_.controller_address);
}

void StatsClient::UseAddress(const std::string& address) {
  grpc::ChannelArguments args;
  // Reconnect quickly after a controller restart or leader change.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  auto stub =
      pb::Autoscaler::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  std::lock_guard lock(mu_);
  address_ = address;
  if (stub_) retired_stubs_.push_back(std::move(stub_));
  stub_ = std::move(stub);
}

std::shared_ptr<pb::Autoscaler::Stub> StatsClient::stub() const {
  std::lock_guard lock(mu_);
  return stub_;
}

void StatsClient::Authorize(grpc::ClientContext& context) const {
  if (!options_.bearer_token) return;
  const std::string token = options_.bearer_token();
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
}

std::string StatsClient::controller_address() const {
  std::lock_guard lock(mu_);
  return address_;
}

bool StatsClient::Resolve() {
  if (!options_.resolve) return false;
  *resolve_needed_ = false;
  absl::StatusOr<std::string> address = options_.resolve();
  if (!address.ok()) {
    log::Warn("cannot find the controller's leader", {{"error", std::string(address.status().message())}});
    return false;
  }
  if (*address == controller_address()) return false;
  log::Info("controller leader found", {{"address", *address}, {"previous", controller_address()}});
  UseAddress(*address);
  return true;
}

StatsClient::~StatsClient() {
  Stop();
  std::unique_lock lock(in_flight_->mu);
  in_flight_->cv.wait(lock, [this] { return in_flight_->calls == 0; });
}

void StatsClient::Start() {
  if (thread_.joinable()) return;
  if (controller_address().empty()) Resolve();  // so the first Wake has somewhere to go
  thread_ = std::thread([this] { Run(); });
}

void StatsClient::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void StatsClient::Run() {
  std::unique_ptr<Stream> stream;
  Duration backoff = options_.initial_backoff;
  MonotonicTime next_connect = clock_.Now();
  while (!stopping_.load()) {
    clock_.SleepFor(options_.interval);
    if (stopping_.load()) break;
    RunRound(stream, backoff, next_connect);
    rounds_.fetch_add(1);
  }
  stream.reset();
}

void StatsClient::RunRound(std::unique_ptr<Stream>& stream, Duration& backoff, MonotonicTime& next_connect) {
  const LoadReport report = tracker_.Collect();
  if (stream && !stream->healthy()) {
    stream.reset();
    next_connect = clock_.Now() + backoff;
    backoff = std::min<Duration>(backoff * 2, options_.max_backoff);
  }
  // Look the leader up every round while disconnected, and when a Wake went
  // astray: a new address is worth trying at once, whatever the backoff for
  // the old one says.
  if ((!stream || resolve_needed_->load()) && Resolve()) {
    stream.reset();
    next_connect = clock_.Now();
    backoff = options_.initial_backoff;
  }
  if (!stream) {
    std::shared_ptr<pb::Autoscaler::Stub> current = stub();
    if (!current || clock_.Now() < next_connect) return;
    stream = std::make_unique<Stream>(
        std::move(current), not_leader_acks_, [this](grpc::ClientContext& context) { Authorize(context); },
        options_.placement, options_.on_placement);
    streams_opened_.fetch_add(1);
  }
  pb::StatsReport message = ToProto(report);
  message.set_relay_address(options_.relay_address);
  if (options_.placement != nullptr) message.set_placement_generation(options_.placement->generation());
  if (stream->Write(message)) {
    reports_sent_.fetch_add(1);
    backoff = options_.initial_backoff;
  } else {
    log::Warn("stats report not sent; reconnecting", {{"controller", controller_address()}});
  }
}

void StatsClient::Wake(const FunctionKey& key, Done done) {
  struct Call {
    grpc::ClientContext context;
    pb::WakeRequest request;
    pb::WakeResponse response;
    Done done;
  };
  std::shared_ptr<pb::Autoscaler::Stub> current = stub();
  if (!current) {
    *resolve_needed_ = true;
    done(absl::UnavailableError("the controller's leader is not known yet"), false);
    return;
  }
  {
    std::lock_guard lock(in_flight_->mu);
    ++in_flight_->calls;
  }
  auto* call = new Call;
  call->request = ToWakeRequest(key, options_.activator_id);
  Authorize(call->context);
  call->done = std::move(done);
  // gRPC measures deadlines on its own clock: give it a relative one, so an
  // injected (possibly manual) clock cannot put it in the past.
  call->context.set_deadline(
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_millis(
                       std::chrono::duration_cast<std::chrono::milliseconds>(options_.wake_timeout).count(),
                       GPR_TIMESPAN)));
  // The stub stays alive in this object (retired on failover, never freed
  // before the destructor has seen this call finish).
  current->async()->Wake(
      &call->context, &call->request, &call->response,
      [call, in_flight = in_flight_, resolve_needed = resolve_needed_](const grpc::Status& status) {
        {
          std::unique_ptr<Call> owned(call);
          if (!status.ok()) {
            *resolve_needed = true;
            owned->done(absl::UnavailableError(Cat("wake rpc: ", status.error_message())), false);
          } else {
            if (owned->response.result() == pb::WakeResponse::NOT_LEADER) *resolve_needed = true;
            owned->done(WakeResultToStatus(owned->response),
                        owned->response.result() == pb::WakeResponse::SCALED);
          }
        }
        std::lock_guard lock(in_flight->mu);
        if (--in_flight->calls == 0) in_flight->cv.notify_all();
      });
}

}  // namespace zs::activator
