#include "triggers/brokers/manager.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>

#include "absl/strings/escaping.h"
#include "common/kube/errors.h"
#include "common/kube/resource.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_format.h"

namespace zs::triggers {

using nlohmann::json;

struct BrokerManager::Entry {
  TriggerId id;
  std::string spec;    // what the consumer was built from; a change restarts it
  std::string secret;  // the Secret value in use
  MonotonicTime secret_checked{};
  std::unique_ptr<Consumer> consumer;
  std::jthread thread;
  std::shared_ptr<std::atomic<bool>> finished = std::make_shared<std::atomic<bool>>(false);
  // Why there is no consumer (a Secret that cannot be read).
  std::string reason;
  std::string message;
  // Counts the consumer reported at the last status pass, and the counts
  // not yet added to the Function's status.
  ConsumerState seen;
  ConsumerState unwritten;
  // The broker view last written, to skip writes that change nothing.
  std::optional<std::string> written_view;

  // Folds what the consumer did since the last look into `unwritten`.
  void Collect() {
    if (!consumer) return;
    const ConsumerState now = consumer->State();
    unwritten.fired += now.fired - seen.fired;
    unwritten.succeeded += now.succeeded - seen.succeeded;
    unwritten.failed += now.failed - seen.failed;
    unwritten.dead_lettered += now.dead_lettered - seen.dead_lettered;
    if (now.last_fire) unwritten.last_fire = now.last_fire;
    if (now.last_success) unwritten.last_success = now.last_success;
    unwritten.connected = now.connected;
    unwritten.reason = now.reason;
    unwritten.message = now.message;
    unwritten.lag = now.lag;
    seen = now;
  }
  void StopConsumer() {
    if (!consumer) return;
    thread.request_stop();
  }
};

namespace {

// The Secret key a broker trigger names for its credentials, if any.
const std::optional<api::SecretKeyRef>& SecretRefOf(const api::TriggerSpec& trigger) {
  return trigger.nats ? trigger.nats->credentials_secret_ref : trigger.redis->password_secret_ref;
}

std::string KeyString(const TriggerId& id) { return Cat(id.ns, "/", id.function, "/", id.trigger); }

std::optional<std::string> Later(const std::optional<std::string>& written,
                                 const std::optional<SystemTime>& t) {
  if (!t) return written;
  const std::string formatted = FormatRfc3339(*t);
  if (!written) return formatted;
  const std::optional<SystemTime> old = ParseRfc3339(*written);
  return old && *old >= *t ? written : formatted;
}

}  // namespace

BrokerManager::BrokerManager(kube::KubeClient& client, Clock& clock, Invoker& invoker,
                             TriggerMetrics& metrics, SourceFactory factory, ListFunctions list_functions,
                             Options options)
    : client_(client),
      clock_(clock),
      invoker_(invoker),
      metrics_(metrics),
      factory_(std::move(factory)),
      list_functions_(std::move(list_functions)),
      options_(std::move(options)) {}

BrokerManager::~BrokerManager() { Stop(); }

std::vector<std::string> BrokerManager::Running() const {
  std::vector<std::string> out;
  for (const auto& [key, entry] : entries_) {
    if (entry->consumer) out.push_back(KeyString(entry->id));
  }
  return out;
}

std::optional<std::string> BrokerManager::ReadSecret(const std::string& ns,
                                                     const std::optional<api::SecretKeyRef>& ref,
                                                     std::string* error) {
  if (!ref) return std::string();
  absl::StatusOr<json> secret = client_.Get(kube::kSecrets.In(ns).Named(ref->name));
  if (!secret.ok()) {
    *error = kube::IsNotFound(secret.status())
                 ? Cat("Secret ", ns, "/", ref->name, " not found")
                 : Cat("reading Secret ", ns, "/", ref->name, ": ", secret.status().message());
    return std::nullopt;
  }
  const json data = secret->value("data", json::object());
  auto it = data.find(ref->key);
  if (it == data.end() || !it->is_string()) {
    *error = Cat("Secret ", ns, "/", ref->name, " has no key ", ref->key);
    return std::nullopt;
  }
  std::string decoded;
  if (!absl::Base64Unescape(it->get<std::string>(), &decoded)) {
    *error = Cat("Secret ", ns, "/", ref->name, " key ", ref->key, " is not base64");
    return std::nullopt;
  }
  return decoded;
}

void BrokerManager::StartConsumer(const api::Function& fn, const api::TriggerSpec& trigger, Entry& entry) {
  std::string error;
  std::optional<std::string> secret = ReadSecret(fn.metadata.namespace_, SecretRefOf(trigger), &error);
  entry.secret_checked = clock_.Now();
  if (!secret) {
    entry.reason = "SecretUnavailable";
    entry.message = error;
    entry.unwritten.connected = false;
    entry.unwritten.reason = entry.reason;
    entry.unwritten.message = error;
    metrics_.SetConnected(entry.id, false);
    return;
  }
  entry.reason.clear();
  entry.message.clear();
  entry.secret = *secret;

  ConsumerSettings settings = options_.consumer_defaults;
  settings.id = entry.id;
  settings.url = Cat(options_.activator_url, "/fn/", fn.metadata.namespace_, "/", fn.metadata.name,
                     trigger.request.path);
  settings.method = trigger.request.method;
  settings.headers = trigger.request.headers;
  settings.subject_header = trigger.nats ? "X-Zeroscale-Subject" : "X-Zeroscale-Stream";
  settings.delivery = trigger.delivery;
  settings.invocation_timeout =
      std::chrono::seconds(fn.spec.buffer.timeout_seconds + fn.spec.timeout_seconds + 5);

  BrokerSourceSpec spec;
  spec.id = entry.id;
  spec.trigger = trigger;
  spec.consumer_name = api::BrokerConsumerName(fn.metadata.namespace_, fn.metadata.name, trigger);
  spec.identity = options_.identity;
  spec.secret = *secret;
  spec.ack_wait = settings.invocation_timeout + options_.ack_wait_margin;
  std::unique_ptr<MessageSource> source = factory_(spec);

  entry.consumer =
      std::make_unique<Consumer>(std::move(source), invoker_, clock_, metrics_, std::move(settings));
  entry.seen = ConsumerState{};
  Consumer* consumer = entry.consumer.get();
  std::shared_ptr<std::atomic<bool>> finished = entry.finished;
  entry.thread = std::jthread([consumer, finished](const std::stop_token& stop) {
    consumer->Run(stop);
    finished->store(true);
  });
  log::Info("broker trigger started", {{"trigger", KeyString(entry.id)},
                                       {"consumer", spec.consumer_name},
                                       {"source", trigger.nats ? "nats" : "redis"}});
}

void BrokerManager::Sync() {
  std::set<Key> wanted;
  for (const json& object : list_functions_()) {
    absl::StatusOr<api::Function> fn = api::DecodeFunction(object);
    if (!fn.ok() || !api::ValidateFunction(*fn).ok()) continue;
    for (const api::TriggerSpec& trigger : fn->spec.triggers) {
      if (!trigger.nats && !trigger.redis) continue;
      const TriggerId id{fn->metadata.namespace_, fn->metadata.name, trigger.name};
      const Key key{{id.ns, id.function}, id.trigger};
      wanted.insert(key);
      // Everything the consumer is built from: the trigger and the timeouts.
      api::FunctionSpec shape;
      shape.triggers = {trigger};
      const std::string spec = Cat(api::EncodeFunctionSpec(shape)["triggers"].dump(), " ",
                                   fn->spec.timeout_seconds, " ", fn->spec.buffer.timeout_seconds);
      std::unique_ptr<Entry>& entry = entries_[key];
      bool restart = false;
      if (!entry) {
        entry = std::make_unique<Entry>();
        entry->id = id;
        restart = true;
      } else if (entry->spec != spec) {
        restart = true;
      } else if (clock_.Now() - entry->secret_checked >= options_.secret_refresh) {
        std::string error;
        std::optional<std::string> secret = ReadSecret(id.ns, SecretRefOf(trigger), &error);
        entry->secret_checked = clock_.Now();
        restart = !entry->consumer || !secret || *secret != entry->secret;
      }
      if (!restart) continue;
      entry->spec = spec;
      if (entry->consumer) {
        entry->Collect();
        entry->StopConsumer();
        auto old = std::make_unique<Entry>();
        old->consumer = std::move(entry->consumer);
        old->thread = std::move(entry->thread);
        old->finished = entry->finished;
        entry->finished = std::make_shared<std::atomic<bool>>(false);
        stopping_.push_back(std::move(old));
      }
      StartConsumer(*fn, trigger, *entry);
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    log::Info("broker trigger stopped", {{"trigger", KeyString(it->second->id)}});
    it->second->StopConsumer();
    stopping_.push_back(std::move(it->second));
    it = entries_.erase(it);
  }
  // Consumers that finished draining are joined and freed.
  std::erase_if(stopping_,
                [](const std::unique_ptr<Entry>& e) { return !e->consumer || e->finished->load(); });
}

bool BrokerManager::WriteStatus() {
  std::set<std::pair<std::string, std::string>> functions;
  for (auto& [key, entry] : entries_) {
    entry->Collect();
    functions.insert(key.first);
  }
  bool ok = true;
  for (const auto& [ns, name] : functions) ok = WriteFunction(ns, name) && ok;
  return ok;
}

bool BrokerManager::WriteFunction(const std::string& ns, const std::string& name) {
  const kube::ResourceRef ref = kube::FunctionRef(ns, name);
  for (int attempt = 0; attempt < options_.max_write_attempts; ++attempt) {
    absl::StatusOr<json> fresh = client_.Get(ref);
    if (!fresh.ok()) return kube::IsNotFound(fresh.status());
    absl::StatusOr<api::Function> fn = api::DecodeFunction(*fresh);
    if (!fn.ok()) return false;
    std::vector<api::TriggerStatus> old = api::DecodeTriggerStatuses(fresh->value("status", json()));
    std::vector<api::TriggerStatus> entries;
    bool changed = false;
    std::vector<Entry*> written;
    for (const api::TriggerSpec& trigger : fn->spec.triggers) {
      auto found =
          std::find_if(old.begin(), old.end(), [&](const auto& s) { return s.name == trigger.name; });
      api::TriggerStatus status;
      status.name = trigger.name;
      if (found != old.end()) status = *found;
      auto mine = entries_.find({{ns, name}, trigger.name});
      if ((trigger.nats || trigger.redis) && mine != entries_.end()) {
        const ConsumerState& u = mine->second->unwritten;
        const api::TriggerStatus before = status;
        status.fired += u.fired;
        status.succeeded += u.succeeded;
        status.failed += u.failed;
        status.dead_lettered += u.dead_lettered;
        status.last_fire_time = Later(status.last_fire_time, u.last_fire);
        status.last_successful_time = Later(status.last_successful_time, u.last_success);
        if (u.lag) status.pending = u.lag;
        status.connected = u.connected ? "True" : "False";
        status.reason = u.connected ? "" : u.reason;
        status.message = u.connected ? "" : u.message;
        if (!status.start_time) status.start_time = FormatRfc3339(clock_.WallNow());
        if (!(status == before)) changed = true;
        written.push_back(mine->second.get());
      }
      entries.push_back(std::move(status));
    }
    if (entries.size() != old.size()) changed = true;
    if (!changed) return true;
    const json patch = {
        {"metadata", {{"resourceVersion", (*fresh)["metadata"].value("resourceVersion", "")}}},
        {"status", {{"triggers", api::EncodeTriggerStatuses(entries)}}}};
    absl::StatusOr<json> result = client_.PatchStatus(ref, patch, {options_.field_manager});
    if (result.ok()) {
      metrics_.CountStatusWrite("ok");
      for (Entry* e : written) {
        e->unwritten.fired = e->unwritten.succeeded = e->unwritten.failed = e->unwritten.dead_lettered = 0;
      }
      return true;
    }
    if (kube::IsConflict(result.status())) {
      metrics_.CountStatusWrite("conflict");
      continue;
    }
    metrics_.CountStatusWrite("error");
    log::Warn("writing broker trigger status",
              {{"function", Cat(ns, "/", name)}, {"error", std::string(result.status().message())}});
    return false;
  }
  return false;
}

void BrokerManager::Run(const std::stop_token& stop) {
  MonotonicTime next_status = clock_.Now();
  std::mutex mu;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    Sync();
    if (clock_.Now() >= next_status) {
      WriteStatus();
      next_status = clock_.Now() + options_.status_every;
    }
    std::unique_lock lock(mu);
    cv.wait_for(lock, stop, options_.sync_every, [] { return false; });
  }
  Stop();
  WriteStatus();
}

void BrokerManager::Stop() {
  for (auto& [key, entry] : entries_) entry->StopConsumer();
  for (auto& entry : stopping_) entry->StopConsumer();
  // Joining waits for each consumer's drain.
  for (auto& [key, entry] : entries_) {
    if (entry->thread.joinable()) entry->thread.join();
    entry->Collect();
  }
  stopping_.clear();
}

}  // namespace zs::triggers
