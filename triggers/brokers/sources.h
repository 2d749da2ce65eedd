// The production SourceFactory: a NATS JetStream or Redis Streams adapter
// for a broker trigger, configured from its spec.
#pragma once

#include <memory>

#include "triggers/brokers/manager.h"
#include "triggers/brokers/source.h"

namespace zs::triggers {

std::unique_ptr<MessageSource> MakeBrokerSource(const BrokerSourceSpec& spec);

}  // namespace zs::triggers
