#include "triggers/brokers/redis_source.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace zs::triggers {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kDefaultPort = 6379;

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

using Args = std::vector<std::string>;

// hiredis writes with write(2): on a socket the server has closed that raises
// SIGPIPE, which kills a process that did not ignore it. While one exists,
// this thread blocks SIGPIPE, and a SIGPIPE raised meanwhile is taken off the
// thread's pending set before the old mask comes back.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &sigpipe_, &old_mask_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec no_wait{};
        while (sigtimedwait(&sigpipe_, nullptr, &no_wait) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t sigpipe_{};
  sigset_t old_mask_{};
  bool was_pending_ = false;
};

timeval ToTimeval(milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

std::string_view Text(const redisReply* reply) { return {reply->str, reply->len}; }

bool IsText(const redisReply* reply) {
  return reply != nullptr && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

bool IsArray(const redisReply* reply) { return reply != nullptr && reply->type == REDIS_REPLY_ARRAY; }

bool IsError(const redisReply* reply) { return reply != nullptr && reply->type == REDIS_REPLY_ERROR; }

// "Connection refused" -> "connection refused": it follows "redis host:port: ".
std::string LowerFirst(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

std::string Millis(milliseconds duration) { return std::to_string(duration.count()); }

// The value of `key` in a flat [key, value, key, value...] reply (XINFO's).
const redisReply* Field(const redisReply* pairs, std::string_view key) {
  if (!IsArray(pairs)) return nullptr;
  for (size_t i = 0; i + 1 < pairs->elements; i += 2) {
    if (IsText(pairs->element[i]) && Text(pairs->element[i]) == key) return pairs->element[i + 1];
  }
  return nullptr;
}

std::optional<int64_t> IntegerField(const redisReply* pairs, std::string_view key) {
  const redisReply* value = Field(pairs, key);
  if (value == nullptr || value->type != REDIS_REPLY_INTEGER) return std::nullopt;
  return value->integer;
}

// An entry's [field, value, ...] as a JSON object, in entry order.
std::string FieldsToJson(const redisReply* fields) {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  if (IsArray(fields)) {
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
      const redisReply* name = fields->element[i];
      const redisReply* value = fields->element[i + 1];
      if (!IsText(name) || !IsText(value)) continue;
      object[std::string(Text(name))] = std::string(Text(value));
    }
  }
  return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// The fields back from a body FieldsToJson made (the entry is gone from the
// stream, so its own bytes are not to be had).
std::vector<std::string> JsonToFields(const std::string& body) {
  std::vector<std::string> fields;
  const nlohmann::ordered_json object = nlohmann::ordered_json::parse(body, nullptr, false);
  if (!object.is_object()) return fields;
  for (const auto& [name, value] : object.items()) {
    fields.push_back(name);
    fields.push_back(value.is_string() ? value.get<std::string>() : value.dump());
  }
  return fields;
}

absl::StatusOr<std::pair<std::string, int>> SplitAddress(const std::string& address) {
  std::string host = address;
  std::string port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos)
      return absl::InvalidArgumentError("redis address " + address + ": no ']'");
    host = address.substr(1, close - 1);
    const std::string rest = address.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return absl::InvalidArgumentError("redis address " + address + ": expected [host]:port");
      port = rest.substr(1);
    }
  } else if (const size_t colon = address.rfind(':');
             colon != std::string::npos && address.find(':') == colon) {
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (host.empty()) return absl::InvalidArgumentError("redis address \"" + address + "\": no host");
  int number = kDefaultPort;
  if (!port.empty() && (!absl::SimpleAtoi(port, &number) || number < 1 || number > 65535)) {
    return absl::InvalidArgumentError("redis address " + address + ": bad port \"" + port + "\"");
  }
  return std::make_pair(host, number);
}

class RedisSource : public MessageSource {
 public:
  explicit RedisSource(RedisSourceConfig config) : config_(std::move(config)) {}

  absl::Status Connect() override {
    if (config_.stream.empty() || config_.group.empty() || config_.consumer.empty()) {
      return absl::InvalidArgumentError("redis source: stream, group and consumer are required");
    }
    if (config_.ack_wait <= milliseconds(0) || config_.io_timeout <= milliseconds(0)) {
      return absl::InvalidArgumentError("redis source: ack_wait and io_timeout must be positive");
    }
    if (!context_) {
      if (absl::Status status = Dial(); !status.ok()) return status;
    }
    absl::StatusOr<Reply> reply = Run({"XGROUP", "CREATE", config_.stream, config_.group, "0", "MKSTREAM"});
    if (!reply.ok()) return reply.status();
    if (IsError(reply->get()) && !Text(reply->get()).starts_with("BUSYGROUP")) {
      return StreamError(config_.stream, reply->get());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Message>> Fetch(int max, milliseconds wait) override {
    absl::StatusOr<std::vector<Message>> messages = Take(max, wait);
    if (messages.ok()) {
      const Clock::time_point now = Clock::now();
      for (const Message& message : *messages) delivered_at_[message.id] = now;
    }
    return messages;
  }

  absl::Status Ack(const Message& message) override {
    if (absl::Status status = EnsureConnected(); !status.ok()) return status;
    absl::StatusOr<Reply> reply = Run({"XACK", config_.stream, config_.group, message.id});
    if (!reply.ok()) return reply.status();
    if (IsError(reply->get())) return StreamError(config_.stream, reply->get());
    retries_.erase(message.id);
    delivered_at_.erase(message.id);
    return absl::OkStatus();
  }

  absl::Status Retry(const Message& message, milliseconds delay) override {
    // The entry stays pending in this consumer's name. Its last delivery here
    // happened no later than `held_since`, which is what ServeRetries'
    // min-idle relies on.
    const Clock::time_point now = Clock::now();
    Clock::time_point held_since = now;
    if (auto delivered = delivered_at_.find(message.id); delivered != delivered_at_.end()) {
      held_since = delivered->second;
      delivered_at_.erase(delivered);
    }
    retries_[message.id] = PendingRetry{now + std::max(delay, milliseconds(0)), held_since};
    return absl::OkStatus();
  }

  absl::Status DeadLetter(const Message& message, const std::string& error,
                          const std::string& trigger) override {
    if (config_.dead_letter_stream.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "redis ", config_.address, ": no dead-letter stream configured for stream ", config_.stream));
    }
    if (absl::Status status = EnsureConnected(); !status.ok()) return status;
    // The entry's own fields, byte for byte; the body stands in for an entry
    // deleted meanwhile.
    absl::StatusOr<Reply> entry = Run({"XRANGE", config_.stream, message.id, message.id});
    if (!entry.ok()) return entry.status();
    if (IsError(entry->get())) return StreamError(config_.stream, entry->get());
    Args args = {"XADD", config_.dead_letter_stream, "*"};
    const redisReply* found = entry->get();
    if (IsArray(found) && found->elements == 1 && IsArray(found->element[0]) &&
        found->element[0]->elements == 2 && IsArray(found->element[0]->element[1])) {
      const redisReply* fields = found->element[0]->element[1];
      for (size_t i = 0; i < fields->elements; ++i) {
        if (IsText(fields->element[i])) args.emplace_back(Text(fields->element[i]));
      }
    } else {
      for (std::string& field : JsonToFields(message.body)) args.push_back(std::move(field));
    }
    const Args provenance = {
        "zeroscale-error",   error,          "zeroscale-attempts",  std::to_string(message.attempt),
        "zeroscale-source",  config_.stream, "zeroscale-source-id", message.id,
        "zeroscale-trigger", trigger};
    args.insert(args.end(), provenance.begin(), provenance.end());
    absl::StatusOr<Reply> added = Run(args);
    if (!added.ok()) return added.status();
    if (!IsText(added->get())) {
      if (IsError(added->get()))
        return StreamError(config_.dead_letter_stream, added->get(), "dead-letter stream ");
      return Fail("XADD to dead-letter stream " + config_.dead_letter_stream + " returned no entry ID");
    }
    return Ack(message);
  }

  absl::StatusOr<int64_t> Lag() override {
    if (absl::Status status = EnsureConnected(); !status.ok()) return status;
    // The delivery loop stops fetching while its invocations fill every slot
    // (for up to an invocation's timeout) but keeps reading the lag.
    if (absl::Status status = RenewRetries(); !status.ok()) return status;
    absl::StatusOr<Reply> groups = Run({"XINFO", "GROUPS", config_.stream});
    if (!groups.ok()) return groups.status();
    if (IsError(groups->get())) return StreamError(config_.stream, groups->get());
    if (!IsArray(groups->get())) return Fail("unexpected reply to XINFO GROUPS " + config_.stream);
    const redisReply* group = nullptr;
    for (size_t i = 0; i < (*groups)->elements; ++i) {
      const redisReply* name = Field((*groups)->element[i], "name");
      if (IsText(name) && Text(name) == config_.group) group = (*groups)->element[i];
    }
    if (group == nullptr) {
      return Fail(absl::StrCat("stream ", config_.stream, ": no consumer group ", config_.group));
    }
    const std::optional<int64_t> pending = IntegerField(group, "pending");
    if (!pending) return Fail("XINFO GROUPS " + config_.stream + ": no pending count");
    if (const std::optional<int64_t> lag = IntegerField(group, "lag")) return *lag + *pending;
    // Redis cannot tell (entries deleted past the group's position): count
    // from above, so the backlog is never under-reported.
    if (const std::optional<int64_t> read = IntegerField(group, "entries-read")) {
      absl::StatusOr<Reply> stream = Run({"XINFO", "STREAM", config_.stream});
      if (!stream.ok()) return stream.status();
      if (IsError(stream->get())) return StreamError(config_.stream, stream->get());
      if (const std::optional<int64_t> added = IntegerField(stream->get(), "entries-added")) {
        return std::max<int64_t>(*added - *read, 0) + *pending;
      }
    }
    absl::StatusOr<Reply> length = Run({"XLEN", config_.stream});
    if (!length.ok()) return length.status();
    if (IsError(length->get())) return StreamError(config_.stream, length->get());
    if ((*length)->type != REDIS_REPLY_INTEGER) return Fail("unexpected reply to XLEN " + config_.stream);
    return (*length)->integer + *pending;
  }

 private:
  // A Retry() waiting for `due`; the entry's last delivery (or idle-time
  // renewal) in this consumer's name happened no later than `held_since`.
  struct PendingRetry {
    Clock::time_point due;
    Clock::time_point held_since;
  };

  // Fetch() but for remembering when each message was handed out.
  absl::StatusOr<std::vector<Message>> Take(int max, milliseconds wait) {
    if (absl::Status status = EnsureConnected(); !status.ok()) return status;
    const size_t limit = static_cast<size_t>(std::max(max, 1));
    const Clock::time_point deadline = Clock::now() + std::max(wait, milliseconds(0));
    std::vector<Message> out;
    // Messages already taken stay pending in this consumer's name, so a
    // failure after some were taken returns those and leaves the error to the
    // next call.
    auto failed = [&out](absl::Status status) -> absl::StatusOr<std::vector<Message>> {
      if (out.empty()) return status;
      return std::move(out);
    };
    for (;;) {
      if (absl::Status status = ServeRetries(limit, out); !status.ok()) return failed(status);
      if (out.size() < limit) {
        if (absl::Status status = ClaimIdle(limit - out.size(), out); !status.ok()) return failed(status);
      }
      if (out.size() >= limit) return out;
      milliseconds block(0);
      const Clock::time_point now = Clock::now();
      if (out.empty() && now < deadline) {
        Clock::time_point until = deadline;
        if (std::optional<Clock::time_point> event = NextRetryEvent(); event && *event < until)
          until = *event;
        // BLOCK 0 would block for ever: wait at least a millisecond.
        block = std::max(std::chrono::ceil<milliseconds>(until - now), milliseconds(1));
      }
      if (absl::Status status = ReadNew(limit - out.size(), block, out); !status.ok()) return failed(status);
      if (!out.empty() || Clock::now() >= deadline) return out;
    }
  }

  absl::Status Fail(const std::string& what) const {
    return absl::UnavailableError(absl::StrCat("redis ", config_.address, ": ", what));
  }

  absl::Status StreamError(const std::string& key, const redisReply* reply,
                           const char* kind = "stream ") const {
    return Fail(absl::StrCat(kind, key, ": ", std::string(Text(reply))));
  }

  absl::Status EnsureConnected() { return context_ ? absl::OkStatus() : Connect(); }

  absl::Status Dial() {
    absl::StatusOr<std::pair<std::string, int>> host_port = SplitAddress(config_.address);
    if (!host_port.ok()) return host_port.status();
    Context context(
        redisConnectWithTimeout(host_port->first.c_str(), host_port->second, ToTimeval(config_.io_timeout)));
    if (!context) return Fail("cannot allocate a connection");
    if (context->err != 0) return Fail(LowerFirst(context->errstr));
    if (redisSetTimeout(context.get(), ToTimeval(config_.io_timeout)) != REDIS_OK) {
      return Fail("setting the socket timeout: " + LowerFirst(context->errstr));
    }
    context_ = std::move(context);
    timeout_ = config_.io_timeout;
    if (config_.password.empty()) return absl::OkStatus();
    absl::StatusOr<Reply> reply = Run({"AUTH", config_.password});
    if (!reply.ok()) return reply.status();
    if (IsError(reply->get())) {
      // Not authenticated: the next Connect() starts over.
      context_.reset();
      return Fail(std::string(Text(reply->get())));
    }
    return absl::OkStatus();
  }

  // Frees the connection after an I/O error (the next call reconnects) and
  // says what happened.
  absl::Status Drop(int error_number) {
    std::string what;
    if (context_->err == REDIS_ERR_IO && (error_number == EAGAIN || error_number == EWOULDBLOCK)) {
      what = "no reply within " + Millis(timeout_) + " ms";
    } else if (context_->err == REDIS_ERR_EOF) {
      what = "connection closed by the server";
    } else {
      what = LowerFirst(context_->errstr);
    }
    context_.reset();
    return Fail(what);
  }

  // Sends `commands` in one write and reads their replies in order. Error
  // replies are replies; only I/O errors are errors.
  absl::StatusOr<std::vector<Reply>> Pipeline(const std::vector<Args>& commands) {
    if (!context_) return Fail("not connected");
    ScopedSigpipeBlock no_sigpipe;
    for (const Args& command : commands) {
      std::vector<const char*> argv;
      std::vector<size_t> lengths;
      argv.reserve(command.size());
      lengths.reserve(command.size());
      for (const std::string& arg : command) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(),
                                 lengths.data()) != REDIS_OK) {
        return Drop(errno);
      }
    }
    std::vector<Reply> replies;
    replies.reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) return Drop(errno);
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    return replies;
  }

  absl::StatusOr<Reply> Run(const Args& command) {
    absl::StatusOr<std::vector<Reply>> replies = Pipeline({command});
    if (!replies.ok()) return replies.status();
    return std::move(replies->front());
  }

  // When ServeRetries has something to do next: a retry falls due, or one's
  // idle time needs renewing.
  std::optional<Clock::time_point> NextRetryEvent() const {
    std::optional<Clock::time_point> next;
    for (const auto& [id, retry] : retries_) {
      const Clock::time_point event = std::min(retry.due, retry.held_since + config_.ack_wait / 2);
      if (!next || event < *next) next = event;
    }
    return next;
  }

  // The idle time the entry has at least if nobody claimed it since
  // `held_since`, less a margin for the server's clock running differently.
  static std::string MinIdle(Clock::duration held_for) {
    const milliseconds held = std::chrono::floor<milliseconds>(held_for);
    return Millis(std::max(held - held / 20 - milliseconds(5), milliseconds(0)));
  }

  // A Message from an entry reply [id, [field, value...]] and the XPENDING
  // reply for it; nullopt when the pending entry is no longer this
  // consumer's (acknowledged or claimed meanwhile).
  std::optional<Message> ClaimedMessage(const redisReply* entry, const redisReply* pending) const {
    if (!IsArray(entry) || entry->elements != 2 || !IsText(entry->element[0])) return std::nullopt;
    if (!IsArray(pending) || pending->elements != 1 || !IsArray(pending->element[0]) ||
        pending->element[0]->elements != 4) {
      return std::nullopt;
    }
    const redisReply* owner = pending->element[0]->element[1];
    const redisReply* deliveries = pending->element[0]->element[3];
    if (!IsText(owner) || Text(owner) != config_.consumer || deliveries->type != REDIS_REPLY_INTEGER) {
      return std::nullopt;
    }
    Message message = NewMessage(entry);
    message.attempt = deliveries->integer;
    return message;
  }

  Message NewMessage(const redisReply* entry) const {
    Message message;
    message.id = std::string(Text(entry->element[0]));
    message.subject = config_.stream;
    message.body = FieldsToJson(entry->element[1]);
    message.content_type = "application/json";
    message.attempt = 1;
    return message;
  }

  // Claims `ids` (each XCLAIM'd on its own, with its min-idle, so the replies
  // line up with the ids) and reads back their delivery counts; appends the
  // claimed messages to `out`. Entries deleted from the stream while pending
  // are XACKed (Redis 7 already dropped them from the group in XCLAIM).
  absl::Status Claim(const std::vector<std::pair<std::string, std::string>>& ids_and_min_idle,
                     std::vector<Message>& out) {
    if (ids_and_min_idle.empty()) return absl::OkStatus();
    std::vector<Args> commands;
    commands.reserve(2 * ids_and_min_idle.size());
    for (const auto& [id, min_idle] : ids_and_min_idle) {
      commands.push_back({"XCLAIM", config_.stream, config_.group, config_.consumer, min_idle, id});
      commands.push_back({"XPENDING", config_.stream, config_.group, id, id, "1"});
    }
    absl::StatusOr<std::vector<Reply>> replies = Pipeline(commands);
    if (!replies.ok()) return replies.status();
    Args deleted = {"XACK", config_.stream, config_.group};
    absl::Status first_error = absl::OkStatus();
    for (size_t i = 0; i < ids_and_min_idle.size(); ++i) {
      const redisReply* claimed = (*replies)[2 * i].get();
      const redisReply* pending = (*replies)[2 * i + 1].get();
      if (IsError(claimed)) {
        if (first_error.ok()) first_error = StreamError(config_.stream, claimed);
        continue;
      }
      if (!IsArray(claimed) || claimed->elements != 1) continue;  // not claimed: someone else's, or acked
      if (claimed->element[0]->type == REDIS_REPLY_NIL) {
        deleted.push_back(ids_and_min_idle[i].first);
        continue;
      }
      if (std::optional<Message> message = ClaimedMessage(claimed->element[0], pending)) {
        out.push_back(std::move(*message));
      }
    }
    // Best effort: a failure leaves the entry to be found deleted again.
    if (deleted.size() > 3) (void)Run(deleted);
    return first_error;
  }

  // Renews the idle time of the retries that have waited ack_wait / 2 and
  // are not due yet, so that no consumer claims one before its delay.
  absl::Status RenewRetries() {
    const Clock::time_point now = Clock::now();
    std::vector<std::pair<std::string, std::string>> renew;
    for (const auto& [id, retry] : retries_) {
      if (retry.due > now && now - retry.held_since >= config_.ack_wait / 2) {
        renew.emplace_back(id, MinIdle(now - retry.held_since));
      }
    }
    if (renew.empty()) return absl::OkStatus();
    // JUSTID: resets the idle time without counting a delivery.
    std::vector<Args> commands;
    commands.reserve(renew.size());
    for (const auto& [id, min_idle] : renew) {
      commands.push_back({"XCLAIM", config_.stream, config_.group, config_.consumer, min_idle, id, "JUSTID"});
    }
    absl::StatusOr<std::vector<Reply>> replies = Pipeline(commands);
    if (!replies.ok()) return replies.status();
    const Clock::time_point renewed = Clock::now();
    for (size_t i = 0; i < renew.size(); ++i) {
      const redisReply* reply = (*replies)[i].get();
      if (IsError(reply)) return StreamError(config_.stream, reply);
      if (IsArray(reply) && reply->elements == 1) {
        retries_[renew[i].first].held_since = renewed;
      } else {
        retries_.erase(renew[i].first);  // another consumer's now, or gone
      }
    }
    return absl::OkStatus();
  }

  // (1) This source's retries that are due (after renewing those waiting).
  absl::Status ServeRetries(size_t limit, std::vector<Message>& out) {
    if (retries_.empty()) return absl::OkStatus();
    if (absl::Status status = RenewRetries(); !status.ok()) return status;
    const Clock::time_point now = Clock::now();
    std::vector<std::pair<Clock::time_point, std::string>> due;
    for (const auto& [id, retry] : retries_) {
      if (retry.due <= now) due.emplace_back(retry.due, id);
    }
    // The longest due first, in batches, until `limit` messages are out: an
    // entry deleted meanwhile takes no message's place.
    std::sort(due.begin(), due.end());
    size_t next = 0;
    while (next < due.size() && out.size() < limit) {
      std::vector<std::pair<std::string, std::string>> batch;
      for (; next < due.size() && out.size() + batch.size() < limit; ++next) {
        const std::string& id = due[next].second;
        batch.emplace_back(id, MinIdle(now - retries_[id].held_since));
      }
      const size_t before = out.size();
      absl::Status status = Claim(batch, out);
      // An I/O error before any reply: try again next time (a claim that did
      // happen has reset the idle time, so that one then fails harmlessly).
      if (!status.ok() && !context_ && out.size() == before) return status;
      for (const auto& [id, min_idle] : batch) retries_.erase(id);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  // (2) Entries any consumer has held for ack_wait or longer (but this
  // source's own retries, which wait for their delay).
  absl::Status ClaimIdle(size_t limit, std::vector<Message>& out) {
    const std::string ack_wait = Millis(config_.ack_wait);
    absl::StatusOr<Reply> reply = Run({"XPENDING", config_.stream, config_.group, "IDLE", ack_wait, "-", "+",
                                       std::to_string(limit + retries_.size())});
    if (!reply.ok()) return reply.status();
    if (IsError(reply->get())) return StreamError(config_.stream, reply->get());
    if (!IsArray(reply->get())) return absl::OkStatus();
    std::vector<std::pair<std::string, std::string>> idle;
    for (size_t i = 0; i < (*reply)->elements && idle.size() < limit; ++i) {
      const redisReply* pending = (*reply)->element[i];
      if (!IsArray(pending) || pending->elements < 1 || !IsText(pending->element[0])) continue;
      std::string id(Text(pending->element[0]));
      if (retries_.contains(id)) continue;
      idle.emplace_back(std::move(id), ack_wait);
    }
    return Claim(idle, out);
  }

  // (3) Entries never delivered to the group, waiting up to `block` (0: not
  // at all) for the first.
  absl::Status ReadNew(size_t limit, milliseconds block, std::vector<Message>& out) {
    Args command = {"XREADGROUP", "GROUP", config_.group, config_.consumer, "COUNT", std::to_string(limit)};
    if (block > milliseconds(0)) {
      command.insert(command.end(), {"BLOCK", Millis(block)});
      // The socket must outwait the server's BLOCK.
      timeout_ = block + config_.io_timeout;
      redisSetTimeout(context_.get(), ToTimeval(timeout_));
    }
    command.insert(command.end(), {"STREAMS", config_.stream, ">"});
    absl::StatusOr<Reply> reply = Run(command);
    if (context_ && timeout_ != config_.io_timeout) {
      timeout_ = config_.io_timeout;
      redisSetTimeout(context_.get(), ToTimeval(timeout_));
    }
    if (!reply.ok()) return reply.status();
    const redisReply* streams = reply->get();
    if (IsError(streams)) return StreamError(config_.stream, streams);
    if (!IsArray(streams)) return absl::OkStatus();  // nil: nothing new
    for (size_t s = 0; s < streams->elements; ++s) {
      const redisReply* stream = streams->element[s];
      if (!IsArray(stream) || stream->elements != 2 || !IsArray(stream->element[1])) continue;
      const redisReply* entries = stream->element[1];
      for (size_t i = 0; i < entries->elements; ++i) {
        const redisReply* entry = entries->element[i];
        if (!IsArray(entry) || entry->elements != 2 || !IsText(entry->element[0])) continue;
        out.push_back(NewMessage(entry));
      }
    }
    return absl::OkStatus();
  }

  RedisSourceConfig config_;
  Context context_;
  milliseconds timeout_{0};  // the socket timeout in effect
  std::map<std::string, PendingRetry> retries_;
  // When each message out in the delivery loop's hands (not yet acked,
  // retried or dead-lettered) was fetched.
  std::map<std::string, Clock::time_point> delivered_at_;
};

}  // namespace

std::unique_ptr<MessageSource> MakeRedisSource(RedisSourceConfig config) {
  return std::make_unique<RedisSource>(std::move(config));
}

}  // namespace zs::triggers
