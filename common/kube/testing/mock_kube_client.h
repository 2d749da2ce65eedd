// gmock of KubeClient. The non-virtual helpers (UpdateStatus, PatchScale,
// ListAll, ...) go through the mocked verbs.
#pragma once

#include <gmock/gmock.h>

#include "common/kube/client.h"

namespace zs::kube::testing {

class MockKubeClient : public KubeClient {
 public:
  MOCK_METHOD(absl::StatusOr<nlohmann::json>, Get, (const ResourceRef& ref), (override));
  MOCK_METHOD(absl::StatusOr<nlohmann::json>, List,
              (const ResourceRef& collection, const ListOptions& options), (override));
  MOCK_METHOD(absl::StatusOr<nlohmann::json>, Create,
              (const ResourceRef& ref, const nlohmann::json& object, const WriteOptions& options),
              (override));
  MOCK_METHOD(absl::StatusOr<nlohmann::json>, Update,
              (const ResourceRef& ref, const nlohmann::json& object, const WriteOptions& options),
              (override));
  MOCK_METHOD(absl::StatusOr<nlohmann::json>, Patch,
              (const ResourceRef& ref, PatchType type, const nlohmann::json& patch,
               const WriteOptions& options),
              (override));
  MOCK_METHOD(absl::StatusOr<nlohmann::json>, Apply,
              (const ResourceRef& ref, const nlohmann::json& object, const ApplyOptions& options),
              (override));
  MOCK_METHOD(absl::StatusOr<nlohmann::json>, Delete, (const ResourceRef& ref, const DeleteOptions& options),
              (override));
  MOCK_METHOD(absl::Status, Watch,
              (const ResourceRef& collection, const WatchOptions& options, const WatchHandler& handler),
              (override));
};

}  // namespace zs::kube::testing
