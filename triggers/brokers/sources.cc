#include "triggers/brokers/sources.h"

#include "triggers/brokers/nats_source.h"
#include "triggers/brokers/redis_source.h"

namespace zs::triggers {

std::unique_ptr<MessageSource> MakeBrokerSource(const BrokerSourceSpec& spec) {
  const api::TriggerSpec& t = spec.trigger;
  if (t.nats) {
    NatsSourceConfig config;
    config.url = t.nats->url;
    config.stream = t.nats->stream;
    config.subject = t.nats->subject;
    config.consumer = spec.consumer_name;
    config.credentials = spec.secret;
    config.dead_letter_subject = t.delivery.dead_letter_subject;
    config.ack_wait = spec.ack_wait;
    return MakeNatsSource(std::move(config));
  }
  RedisSourceConfig config;
  config.address = t.redis->address;
  config.stream = t.redis->stream;
  config.group = spec.consumer_name;
  config.consumer = spec.identity;
  config.password = spec.secret;
  config.dead_letter_stream = t.delivery.dead_letter_stream;
  config.ack_wait = spec.ack_wait;
  return MakeRedisSource(std::move(config));
}

}  // namespace zs::triggers
