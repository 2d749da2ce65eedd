// Events on Functions (kubectl describe fn shows them): creations, rollouts,
// scale-ups and scale-downs, and errors.
//
// Thread-safety: implementations are safe from any thread.
#pragma once

#include <string>

#include "common/api/function.h"
#include "common/clock.h"
#include "common/kube/client.h"

namespace zs::controller {

enum class EventType { kNormal, kWarning };

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  virtual void Record(const api::Function& fn, EventType type, const std::string& reason,
                      const std::string& message) = 0;
};

// Writes core/v1 Events through the apiserver. Failures are logged, never
// returned: an Event is advisory and must not fail a reconcile.
class KubeEventRecorder final : public EventRecorder {
 public:
  KubeEventRecorder(kube::KubeClient& client, Clock& clock, std::string component);
  void Record(const api::Function& fn, EventType type, const std::string& reason,
              const std::string& message) override;

 private:
  kube::KubeClient& client_;
  Clock& clock_;
  const std::string component_;
};

}  // namespace zs::controller
