#include "triggers/brokers/nats_source.h"

#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace zs::triggers {
namespace {

// Owning handles for nats.c objects.
struct NatsDeleter {
  void operator()(natsOptions* p) const { natsOptions_Destroy(p); }
  void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
  void operator()(jsCtx* p) const { jsCtx_Destroy(p); }
  void operator()(natsSubscription* p) const { natsSubscription_Destroy(p); }
  void operator()(natsMsg* p) const { natsMsg_Destroy(p); }
  void operator()(jsStreamInfo* p) const { jsStreamInfo_Destroy(p); }
  void operator()(jsConsumerInfo* p) const { jsConsumerInfo_Destroy(p); }
  void operator()(jsMsgMetaData* p) const { jsMsgMetaData_Destroy(p); }
  void operator()(jsPubAck* p) const { jsPubAck_Destroy(p); }
};
template <typename T>
using NatsPtr = std::unique_ptr<T, NatsDeleter>;

// "nats://user:pass@a:4222,tls://token@b:4222" -> "nats://a:4222,tls://b:4222":
// user info (a password, or a token) never goes into an error.
std::string RedactUrl(absl::string_view urls) {
  std::vector<std::string> out;
  for (absl::string_view url : absl::StrSplit(urls, ',')) {
    url = absl::StripAsciiWhitespace(url);
    const size_t scheme = url.find("://");
    const size_t host = scheme == absl::string_view::npos ? 0 : scheme + 3;
    const size_t at = url.find('@', host);
    const size_t slash = url.find('/', host);
    if (at != absl::string_view::npos && (slash == absl::string_view::npos || at < slash)) {
      out.push_back(absl::StrCat(url.substr(0, host), url.substr(at + 1)));
    } else {
      out.emplace_back(url);
    }
  }
  return absl::StrJoin(out, ",");
}

bool IsAuthFailure(natsStatus s, absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  return s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED ||
         absl::StrContains(lower, "authorization") || absl::StrContains(lower, "authentication");
}

// The words nats.c has for the last failure on this thread (without its
// "(file.c:123): " prefix), or the status's.
std::string Describe(natsStatus s) {
  if (s == NATS_NO_SERVER) return "no servers available for connection";
  natsStatus last = NATS_OK;
  const char* last_text = nats_GetLastError(&last);
  absl::string_view text = (last_text != nullptr && *last_text != '\0' && last == s) ? last_text : "";
  while (absl::StartsWith(text, "(")) {
    const size_t end = text.find("): ");
    if (end == absl::string_view::npos) break;
    text.remove_prefix(end + 3);
  }
  if (text.empty()) text = natsStatus_GetText(s);
  // The server's "Authorization Violation" as the sentence it is in ours.
  std::string out = IsAuthFailure(s, text) ? absl::AsciiStrToLower(text) : std::string(text);
  if (!out.empty()) out[0] = absl::ascii_tolower(static_cast<unsigned char>(out[0]));
  return out;
}

// The text of the index-th "-----BEGIN ...-----" ... "------END ...------"
// block of a .creds file (0: the user JWT, 1: the NKey seed).
std::optional<std::string> CredsBlock(absl::string_view creds, int index) {
  int seen = -1;
  bool inside = false;
  std::string block;
  for (absl::string_view line : absl::StrSplit(creds, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(line, "---")) {
      if (!inside && absl::StrContains(line, "BEGIN")) {
        inside = true;
        ++seen;
        block.clear();
      } else if (inside && absl::StrContains(line, "END")) {
        if (seen == index) return block;
        inside = false;
      }
      continue;
    }
    if (inside) absl::StrAppend(&block, line);
  }
  return std::nullopt;
}

struct Creds {
  std::string jwt;
  std::string seed;
};

natsStatus UserJwt(char** jwt, char** /*custom_error*/, void* closure) {
  *jwt = strdup(static_cast<const Creds*>(closure)->jwt.c_str());
  return *jwt == nullptr ? NATS_NO_MEMORY : NATS_OK;
}

natsStatus SignNonce(char** /*custom_error*/, unsigned char** signature, int* length, const char* nonce,
                     void* closure) {
  return nats_Sign(static_cast<const Creds*>(closure)->seed.c_str(), nonce, signature, length);
}

bool IsLiteralSubject(absl::string_view subject) {
  if (subject.empty()) return false;
  for (absl::string_view token : absl::StrSplit(subject, '.')) {
    if (token.empty() || token == "*" || token == ">") return false;
    if (absl::StrContains(token, ' ') || absl::StrContains(token, '\t')) return false;
  }
  return true;
}

// Headers JetStream acts on when a message is published; the dead-letter
// copy must not carry them (see nats_source.h).
bool IsPublishDirective(absl::string_view name) {
  return absl::StartsWithIgnoreCase(name, "Nats-Expected-") || absl::EqualsIgnoreCase(name, "Nats-Rollup") ||
         absl::EqualsIgnoreCase(name, "Nats-Msg-Id");
}

// A header value on one line: NATS headers are CRLF-delimited, and an error
// text may have line breaks.
std::string OneLine(absl::string_view value) {
  std::string out(value);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return out;
}

// All headers of `msg`: names in byte order, each name's values in order.
std::vector<std::pair<std::string, std::string>> Headers(natsMsg* msg) {
  std::vector<std::pair<std::string, std::string>> out;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return out;
  std::vector<std::string> names(keys, keys + count);
  free(static_cast<void*>(keys));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const char** values = nullptr;
    int n = 0;
    if (natsMsgHeader_Values(msg, name.c_str(), &values, &n) != NATS_OK) continue;
    for (int i = 0; i < n; ++i) out.emplace_back(name, values[i]);
    free(static_cast<void*>(values));
  }
  return out;
}

class NatsSource final : public MessageSource {
 public:
  explicit NatsSource(NatsSourceConfig config) : config_(std::move(config)), where_(RedactUrl(config_.url)) {}

  ~NatsSource() override { Teardown(); }

  NatsSource(const NatsSource&) = delete;
  NatsSource& operator=(const NatsSource&) = delete;

  absl::Status Connect() override {
    if (config_.stream.empty() || config_.consumer.empty()) {
      return absl::InvalidArgumentError(Prefix("a stream and a consumer name are required"));
    }
    if (!config_.dead_letter_subject.empty() && !IsLiteralSubject(config_.dead_letter_subject)) {
      return absl::InvalidArgumentError(
          Prefix(absl::StrCat("dead-letter subject \"", config_.dead_letter_subject,
                              "\" is not a literal subject (no wildcards, no empty tokens)")));
    }
    if (conn_ != nullptr && natsConnection_Status(conn_.get()) == NATS_CONN_STATUS_CLOSED) Teardown();
    if (conn_ == nullptr) {
      if (absl::Status s = Dial(); !s.ok()) {
        Teardown();
        return s;
      }
    }
    if (absl::Status s = CheckConnected(); !s.ok()) return s;
    if (absl::Status s = EnsureConsumer(); !s.ok()) return s;
    if (sub_ == nullptr) {
      jsSubOptions so;
      jsSubOptions_Init(&so);
      so.Stream = config_.stream.c_str();
      so.Consumer = config_.consumer.c_str();
      natsSubscription* sub = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      const natsStatus s =
          js_PullSubscribe(&sub, js_.get(), config_.subject.empty() ? nullptr : config_.subject.c_str(),
                           config_.consumer.c_str(), &jsopts_, &so, &jerr);
      if (s != NATS_OK) {
        return Failure(s, absl::StrCat("pull subscription to consumer ", config_.consumer, " of stream ",
                                       config_.stream));
      }
      sub_.reset(sub);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Message>> Fetch(int max, std::chrono::milliseconds wait) override {
    if (sub_ == nullptr) return absl::FailedPreconditionError(Prefix("not connected: call Connect()"));
    if (absl::Status s = CheckConnected(); !s.ok()) return s;
    max = std::max(max, 1);
    std::vector<Message> out;
    // With batch > 1 nats.c asks for "no wait" with an expiry, which
    // nats-server 2.9 serves as a one-shot request: it answers as soon as it
    // has any message, or at the expiry with none. The expiry status of an
    // earlier pull that timed out on our side can arrive during this one and
    // end it early and empty: pull again for the rest of the wait (a few
    // times at most, so a server that answers at once cannot make it spin).
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (int pulls = 0; pulls < 4; ++pulls) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (pulls > 0 && left.count() < 1) break;
      if (absl::Status s = Pull(max, std::max<int64_t>(left.count(), 1), out); !s.ok()) return s;
      if (!out.empty()) break;
      // A pull request sent while the connection was going down times out
      // like an empty one: say which it was.
      if (absl::Status c = CheckConnected(); !c.ok()) return c;
    }
    return out;
  }

  absl::Status Ack(const Message& message) override {
    auto held = Held(message);
    if (!held.ok()) return held.status();
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = natsMsg_AckSync(*held, &jsopts_, &jerr);
    if (s != NATS_OK) return Failure(s, absl::StrCat("ack of message ", message.id));
    Release(message.id);
    return absl::OkStatus();
  }

  absl::Status Retry(const Message& message, std::chrono::milliseconds delay) override {
    auto held = Held(message);
    if (!held.ok()) return held.status();
    // jsopts_.Wait > 0 makes nats.c wait for the server's reply to the NAK.
    // A delay of 0 is a plain NAK (redelivered at once).
    const natsStatus s = natsMsg_NakWithDelay(*held, std::max<int64_t>(delay.count(), 0), &jsopts_);
    if (s != NATS_OK) return Failure(s, absl::StrCat("nak of message ", message.id));
    Release(message.id);
    return absl::OkStatus();
  }

  absl::Status DeadLetter(const Message& message, const std::string& error,
                          const std::string& trigger) override {
    auto held = Held(message);
    if (!held.ok()) return held.status();
    if (config_.dead_letter_subject.empty()) {
      return absl::FailedPreconditionError(Prefix(
          absl::StrCat("message ", message.id, " not dead-lettered: no dead-letter subject configured")));
    }
    natsMsg* original = *held;
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, config_.dead_letter_subject.c_str(), nullptr,
                                  natsMsg_GetData(original), natsMsg_GetDataLength(original));
    if (s != NATS_OK) return Failure(s, "dead letter");
    NatsPtr<natsMsg> copy(raw);
    std::vector<std::pair<std::string, std::string>> headers;
    std::string source_msg_id;
    for (auto& [name, value] : Headers(original)) {
      if (absl::EqualsIgnoreCase(name, "Nats-Msg-Id")) source_msg_id = value;
      if (IsPublishDirective(name)) continue;
      headers.emplace_back(std::move(name), std::move(value));
    }
    const char* subject = natsMsg_GetSubject(original);
    headers.emplace_back("Zeroscale-Error", OneLine(error));
    headers.emplace_back("Zeroscale-Attempts", std::to_string(message.attempt));
    headers.emplace_back("Zeroscale-Source", config_.stream);
    headers.emplace_back("Zeroscale-Source-Id", message.id);
    headers.emplace_back("Zeroscale-Source-Subject", subject == nullptr ? "" : subject);
    headers.emplace_back("Zeroscale-Trigger", OneLine(trigger));
    if (!source_msg_id.empty()) headers.emplace_back("Zeroscale-Source-Msg-Id", source_msg_id);
    headers.emplace_back("Nats-Msg-Id", absl::StrCat(config_.stream, ":", message.id));
    for (const auto& [name, value] : headers) {
      s = natsMsgHeader_Add(copy.get(), name.c_str(), value.c_str());
      if (s != NATS_OK) return Failure(s, absl::StrCat("dead letter header ", name));
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = config_.io_timeout.count();
    jsPubAck* ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_PublishMsg(&ack, js_.get(), copy.get(), &po, &jerr);
    NatsPtr<jsPubAck> pub_ack(ack);
    if (s == NATS_NO_RESPONDERS) {
      return absl::FailedPreconditionError(
          Prefix(absl::StrCat("dead letter of message ", message.id, " to ", config_.dead_letter_subject,
                              ": no stream captures the subject (no responders); message kept")));
    }
    if (s != NATS_OK) {
      return Failure(s, absl::StrCat("dead letter of message ", message.id, " to ",
                                     config_.dead_letter_subject, " (message kept)"));
    }
    s = natsMsg_AckSync(original, &jsopts_, &jerr);
    if (s != NATS_OK) {
      return Failure(s, absl::StrCat("ack of dead-lettered message ", message.id, " (published to ",
                                     config_.dead_letter_subject, ")"));
    }
    Release(message.id);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> Lag() override {
    if (js_ == nullptr) return absl::FailedPreconditionError(Prefix("not connected: call Connect()"));
    if (absl::Status s = CheckConnected(); !s.ok()) return s;
    jsConsumerInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetConsumerInfo(&raw, js_.get(), config_.stream.c_str(), config_.consumer.c_str(),
                                            &jsopts_, &jerr);
    NatsPtr<jsConsumerInfo> info(raw);
    if (s == NATS_NOT_FOUND) {
      return absl::FailedPreconditionError(
          Prefix(absl::StrCat("consumer ", config_.consumer, " of stream ", config_.stream, " not found")));
    }
    if (s != NATS_OK) return Failure(s, absl::StrCat("consumer info of ", config_.consumer));
    return static_cast<int64_t>(info->NumPending) + info->NumAckPending;
  }

 private:
  std::string Prefix(absl::string_view what) const { return absl::StrCat("nats ", where_, ": ", what); }

  // An error for a nats.c failure of `what` (empty: the connection itself).
  absl::Status Failure(natsStatus s, absl::string_view what) const {
    const std::string text = Describe(s);
    const std::string message = Prefix(what.empty() ? text : absl::StrCat(what, ": ", text));
    if (IsAuthFailure(s, text)) return absl::FailedPreconditionError(message);
    return absl::UnavailableError(message);
  }

  absl::Status CheckConnected() const {
    if (conn_ == nullptr) return absl::UnavailableError(Prefix("not connected"));
    switch (natsConnection_Status(conn_.get())) {
      case NATS_CONN_STATUS_CONNECTED:
        return absl::OkStatus();
      case NATS_CONN_STATUS_CLOSED:
        return absl::UnavailableError(Prefix("connection closed"));
      default:
        return absl::UnavailableError(Prefix("disconnected from the server (reconnecting)"));
    }
  }

  absl::Status Dial() {
    natsOptions* raw = nullptr;
    natsStatus s = natsOptions_Create(&raw);
    if (s != NATS_OK) return Failure(s, "options");
    NatsPtr<natsOptions> opts(raw);
    s = natsOptions_SetURL(opts.get(), config_.url.c_str());
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), config_.io_timeout.count());
    // Reconnect in the background forever, once a second; calls meanwhile
    // fail at once (CheckConnected) instead of blocking.
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts.get(), true);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), 1000);
    if (s != NATS_OK) return Failure(s, absl::StrCat("options for ", where_));
    if (!config_.credentials.empty()) {
      std::optional<std::string> jwt = CredsBlock(config_.credentials, 0);
      std::optional<std::string> seed = CredsBlock(config_.credentials, 1);
      if (!jwt || jwt->empty() || !seed || !absl::StartsWith(*seed, "SU")) {
        return absl::InvalidArgumentError(
            Prefix("credentials are not a .creds file (a user JWT block, then a user NKey seed block)"));
      }
      creds_ = std::make_unique<Creds>(Creds{std::move(*jwt), std::move(*seed)});
      s = natsOptions_SetUserCredentialsCallbacks(opts.get(), UserJwt, creds_.get(), SignNonce, creds_.get());
      if (s != NATS_OK) return Failure(s, "credentials");
    }
    natsConnection* conn = nullptr;
    s = natsConnection_Connect(&conn, opts.get());
    if (s != NATS_OK) {
      natsConnection_Destroy(conn);
      return Failure(s, "");
    }
    conn_.reset(conn);
    jsOptions_Init(&jsopts_);
    jsopts_.Wait = config_.io_timeout.count();
    jsCtx* js = nullptr;
    s = natsConnection_JetStream(&js, conn_.get(), &jsopts_);
    if (s != NATS_OK) return Failure(s, "JetStream context");
    js_.reset(js);
    return absl::OkStatus();
  }

  // The stream exists, the dead-letter subject is outside what the consumer
  // reads, and the consumer exists (created if absent) with our filter.
  absl::Status EnsureConsumer() {
    jsErrCode jerr = static_cast<jsErrCode>(0);
    jsStreamInfo* raw_stream = nullptr;
    natsStatus s = js_GetStreamInfo(&raw_stream, js_.get(), config_.stream.c_str(), &jsopts_, &jerr);
    NatsPtr<jsStreamInfo> stream(raw_stream);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
      return absl::FailedPreconditionError(Prefix(absl::StrCat("stream ", config_.stream, " not found")));
    }
    if (jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr) {
      return absl::FailedPreconditionError(Prefix("JetStream is not enabled (for this account)"));
    }
    if (s == NATS_NO_RESPONDERS) {
      return absl::UnavailableError(Prefix("JetStream is not available (no responders to its API)"));
    }
    if (s != NATS_OK) return Failure(s, absl::StrCat("stream info of ", config_.stream));

    jsConsumerInfo* raw_consumer = nullptr;
    jerr = static_cast<jsErrCode>(0);
    s = js_GetConsumerInfo(&raw_consumer, js_.get(), config_.stream.c_str(), config_.consumer.c_str(),
                           &jsopts_, &jerr);
    NatsPtr<jsConsumerInfo> consumer(raw_consumer);
    const bool absent = s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr;
    if (s != NATS_OK && !absent) return Failure(s, absl::StrCat("consumer info of ", config_.consumer));

    if (!absent) {
      const char* filter = consumer->Config == nullptr ? nullptr : consumer->Config->FilterSubject;
      const std::string theirs = filter == nullptr ? "" : filter;
      if (theirs != config_.subject) {
        return absl::FailedPreconditionError(Prefix(absl::StrCat(
            "consumer ", config_.consumer, " of stream ", config_.stream, " exists with filter subject \"",
            theirs, "\", not \"", config_.subject, "\"; delete it or use another consumer name")));
      }
      if (consumer->Config != nullptr && consumer->Config->DeliverSubject != nullptr &&
          *consumer->Config->DeliverSubject != '\0') {
        return absl::FailedPreconditionError(Prefix(absl::StrCat("consumer ", config_.consumer, " of stream ",
                                                                 config_.stream, " is a push consumer")));
      }
    }

    if (!config_.dead_letter_subject.empty()) {
      std::vector<std::string> read;
      if (!config_.subject.empty()) {
        read.push_back(config_.subject);
      } else if (stream->Config != nullptr) {
        for (int i = 0; i < stream->Config->SubjectsLen; ++i) read.emplace_back(stream->Config->Subjects[i]);
        if (read.empty()) read.push_back(config_.stream);
      }
      for (const std::string& filter : read) {
        if (NatsSubjectMatches(filter, config_.dead_letter_subject)) {
          return absl::FailedPreconditionError(Prefix(absl::StrCat(
              "dead-letter subject ", config_.dead_letter_subject, " is matched by \"", filter,
              "\", which consumer ", config_.consumer, " reads: it would consume its own dead letters")));
        }
      }
    }

    if (absent) {
      jsConsumerConfig cc;
      jsConsumerConfig_Init(&cc);
      cc.Durable = config_.consumer.c_str();
      cc.DeliverPolicy = js_DeliverAll;
      cc.AckPolicy = js_AckExplicit;
      cc.AckWait = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.ack_wait).count();
      cc.MaxAckPending = config_.max_ack_pending;
      cc.MaxDeliver = -1;
      if (!config_.subject.empty()) cc.FilterSubject = config_.subject.c_str();
      jsConsumerInfo* created = nullptr;
      jerr = static_cast<jsErrCode>(0);
      s = js_AddConsumer(&created, js_.get(), config_.stream.c_str(), &cc, &jsopts_, &jerr);
      NatsPtr<jsConsumerInfo> created_info(created);
      if (s != NATS_OK) {
        return Failure(s,
                       absl::StrCat("creating consumer ", config_.consumer, " of stream ", config_.stream));
      }
    }
    return absl::OkStatus();
  }

  // One pull request; appends what it gets to `out` (holding each message).
  absl::Status Pull(int batch, int64_t wait_ms, std::vector<Message>& out) {
    natsMsgList list{};
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = natsSubscription_Fetch(&list, sub_.get(), batch, wait_ms, &jerr);
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) {
      natsMsgList_Destroy(&list);
      return absl::OkStatus();
    }
    if (s != NATS_OK) {
      natsMsgList_Destroy(&list);
      return Failure(s, absl::StrCat("fetch from consumer ", config_.consumer));
    }
    for (int i = 0; i < list.Count; ++i) {
      NatsPtr<natsMsg> msg(list.Msgs[i]);
      list.Msgs[i] = nullptr;
      jsMsgMetaData* raw_meta = nullptr;
      if (natsMsg_GetMetaData(&raw_meta, msg.get()) != NATS_OK) continue;  // not a JetStream message
      NatsPtr<jsMsgMetaData> meta(raw_meta);
      Message m;
      m.id = std::to_string(meta->Sequence.Stream);
      const char* subject = natsMsg_GetSubject(msg.get());
      m.subject = subject == nullptr ? "" : subject;
      m.headers = Headers(msg.get());
      const char* data = natsMsg_GetData(msg.get());
      m.body.assign(data == nullptr ? "" : data, static_cast<size_t>(natsMsg_GetDataLength(msg.get())));
      m.attempt = static_cast<int64_t>(meta->NumDelivered);
      // A newer delivery of a message still held replaces the old one (its
      // ack token is the live one).
      held_[m.id] = std::move(msg);
      out.push_back(std::move(m));
    }
    natsMsgList_Destroy(&list);
    return absl::OkStatus();
  }

  absl::StatusOr<natsMsg*> Held(const Message& message) {
    auto it = held_.find(message.id);
    if (it == held_.end()) {
      return absl::FailedPreconditionError(Prefix(absl::StrCat(
          "message ", message.id,
          " is not held by this source (already settled, or fetched on a connection since rebuilt)")));
    }
    if (absl::Status s = CheckConnected(); !s.ok()) return s;
    return it->second.get();
  }

  void Release(const std::string& id) { held_.erase(id); }

  // Drops everything (held messages first: they point into the
  // subscription); JetStream redelivers what was held after AckWait.
  void Teardown() {
    held_.clear();
    sub_.reset();
    js_.reset();
    conn_.reset();
  }

  const NatsSourceConfig config_;
  const std::string where_;  // the URLs without user info, for errors
  std::unique_ptr<Creds> creds_;
  jsOptions jsopts_{};
  NatsPtr<natsConnection> conn_;
  NatsPtr<jsCtx> js_;
  NatsPtr<natsSubscription> sub_;
  std::map<std::string, NatsPtr<natsMsg>> held_;
};

}  // namespace

bool NatsSubjectMatches(const std::string& filter, const std::string& subject) {
  const std::vector<absl::string_view> f = absl::StrSplit(filter, '.');
  const std::vector<absl::string_view> s = absl::StrSplit(subject, '.');
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == ">") return i + 1 == f.size() && s.size() > i;
    if (i >= s.size()) return false;
    if (f[i] != "*" && f[i] != s[i]) return false;
  }
  return f.size() == s.size();
}

std::unique_ptr<MessageSource> MakeNatsSource(NatsSourceConfig config) {
  return std::make_unique<NatsSource>(std::move(config));
}

}  // namespace zs::triggers
