#include "hack/node-agent/image_map.h"

#include <gtest/gtest.h>

namespace zs::nodeagent {
namespace {

TEST(ImageMapTest, ExactThenWithoutTagAndRelativePaths) {
  auto map = ImageMap::Parse(R"(
images:
  "zeroscale/fn-echo": ../build/fn-echo
  "zeroscale/fn-echo:special": /opt/special
  "localhost:5000/app": /opt/app
)",
                             "/repo/hack");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(*map->Resolve("zeroscale/fn-echo:dev"), "/repo/build/fn-echo");
  EXPECT_EQ(*map->Resolve("zeroscale/fn-echo"), "/repo/build/fn-echo");
  EXPECT_EQ(*map->Resolve("zeroscale/fn-echo:special"), "/opt/special");
  EXPECT_EQ(*map->Resolve("zeroscale/fn-echo@sha256:abcd"), "/repo/build/fn-echo");
  EXPECT_EQ(*map->Resolve("localhost:5000/app:1.0"), "/opt/app");
  EXPECT_EQ(map->Resolve("other/image:1").status().code(), absl::StatusCode::kNotFound);
}

TEST(ImageMapTest, JsonWorksAndErrorsAreStatuses) {
  EXPECT_TRUE(ImageMap::Parse(R"({"images": {"a": "/bin/a"}})", "").ok());
  EXPECT_FALSE(ImageMap::Parse("images: [1, 2]", "").ok());
  EXPECT_FALSE(ImageMap::Parse("{{{", "").ok());
  EXPECT_FALSE(ImageMap::Parse("other: {}", "").ok());
  EXPECT_EQ(ImageMap::Load("/nonexistent/images.yaml").status().code(), absl::StatusCode::kNotFound);
}

TEST(ImageMapTest, StripTag) {
  EXPECT_EQ(StripTag("a/b:1"), "a/b");
  EXPECT_EQ(StripTag("a/b"), "a/b");
  EXPECT_EQ(StripTag("host:5000/b"), "host:5000/b");
  EXPECT_EQ(StripTag("host:5000/b:2"), "host:5000/b");
  EXPECT_EQ(StripTag("b@sha256:00"), "b");
}

}  // namespace
}  // namespace zs::nodeagent

namespace zs::nodeagent {
namespace {

TEST(ImageMapTest, EntriesWithFiles) {
  auto map = ImageMap::Parse(R"(
images:
  "zeroscale/zeroscale:dev":
    files:
      /usr/local/bin/zeroscale-activator: activator/zeroscale-activator
  "zeroscale/fn-echo:dev": {entrypoint: /opt/fn-echo, files: {/usr/local/bin/fn-echo: /opt/fn-echo}}
)",
                             "/build");
  ASSERT_TRUE(map.ok()) << map.status();
  auto entry = map->Find("zeroscale/zeroscale:dev");
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->files.at("/usr/local/bin/zeroscale-activator"), "/build/activator/zeroscale-activator");
  EXPECT_FALSE(map->Resolve("zeroscale/zeroscale:dev").ok());  // no entrypoint
  EXPECT_EQ(*map->Resolve("zeroscale/fn-echo:dev"), "/opt/fn-echo");
  EXPECT_EQ(map->Names(), (std::vector<std::string>{"zeroscale/fn-echo:dev", "zeroscale/zeroscale:dev"}));
  EXPECT_FALSE(ImageMap::Parse("images: {a: {}}", "").ok());
  EXPECT_FALSE(ImageMap::Parse("images: {a: [1]}", "").ok());
}

}  // namespace
}  // namespace zs::nodeagent
