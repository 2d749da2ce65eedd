#include "activator/admission/lookup.h"

#include <gtest/gtest.h>

namespace zs::activator {
namespace {

struct Case {
  const char* target;
  const char* host;
  bool routed;
  const char* ns;
  const char* name;
  const char* upstream;
  const char* path;
};

TEST(ResolveRoute, Table) {
  const Case cases[] = {
      {"/fn/default/hello/api/v1?x=1&y=2", "activator", true, "default", "hello", "/api/v1?x=1&y=2",
       "/api/v1"},
      {"/fn/default/hello/", "activator", true, "default", "hello", "/", "/"},
      {"/fn/default/hello", "activator", true, "default", "hello", "/", "/"},
      {"/fn/default/hello?q=1", "activator", true, "default", "hello", "/?q=1", "/"},
      {"/fn/default/hello//double", "a", true, "default", "hello", "//double", "//double"},
      {"/fn/default/", "a", false, "", "", "", ""},
      {"/fn/default", "a", false, "", "", "", ""},
      {"/fn//hello/x", "a", false, "", "", "", ""},
      {"/fn/Default/hello/x", "a", false, "", "", "", ""},  // names are lowercase
      {"/fn/default/he%6clo/x", "a", false, "", "", "", ""},
      {"/other/path", "a", false, "", "", "", ""},
      {"/", "", false, "", "", "", ""},
      {"*", "a", false, "", "", "", ""},
      // Host routing.
      {"/api?x=1", "hello.default.fn.local", true, "default", "hello", "/api?x=1", "/api"},
      {"/api", "Hello.Default.FN.local:8000", true, "default", "hello", "/api", "/api"},
      {"/api", "hello.default.fn.local.", true, "default", "hello", "/api", "/api"},
      {"/fn/other/fn/x", "hello.default.fn.local", true, "default", "hello", "/fn/other/fn/x",
       "/fn/other/fn/x"},
      {"/api", "a.b.c.fn.local", false, "", "", "", ""},
      {"/api", "fn.local", false, "", "", "", ""},
      {"/api", "hello.default.fn.localhost", false, "", "", "", ""},
      {"/api", "hellodefault-fn.local", false, "", "", "", ""},
      // Absolute form: the authority is the host.
      {"http://hello.default.fn.local/x?y", "ignored", true, "default", "hello", "/x?y", "/x"},
      {"http://hello.default.fn.local", "ignored", true, "default", "hello", "/", "/"},
      {"http://activator/fn/ns1/f1/z", "ignored", true, "ns1", "f1", "/z", "/z"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.target) + " @ " + c.host);
    auto route = ResolveRoute(c.target, c.host, "fn.local");
    ASSERT_EQ(route.has_value(), c.routed);
    if (!route) continue;
    EXPECT_EQ(route->ns, c.ns);
    EXPECT_EQ(route->name, c.name);
    EXPECT_EQ(route->upstream_target, c.upstream);
    EXPECT_EQ(route->path, c.path);
    EXPECT_EQ(route->FunctionString(), std::string(c.ns) + "/" + c.name);
  }
}

TEST(ResolveRoute, EmptyDomainDisablesHostRouting) {
  EXPECT_FALSE(ResolveRoute("/api", "hello.default.", "").has_value());
  EXPECT_TRUE(ResolveRoute("/fn/a/b/c", "x", "").has_value());
}

TEST(LookupFunction, FindsOnlyKnownFunctions) {
  InMemoryCatalog catalog;
  FunctionConfig config;
  config.key = {"default", "hello"};
  catalog.Upsert(config);
  auto route = ResolveRoute("/fn/default/hello/x", "", "fn.local");
  ASSERT_TRUE(route);
  EXPECT_NE(LookupFunction(catalog, *route), nullptr);
  route = ResolveRoute("/fn/default/other/x", "", "fn.local");
  ASSERT_TRUE(route);
  EXPECT_EQ(LookupFunction(catalog, *route), nullptr);
}

}  // namespace
}  // namespace zs::activator
