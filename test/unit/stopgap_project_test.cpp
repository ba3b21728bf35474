// The pure rules of a project deployed as files (extensions/stopgap/project_logic.cpp).
#include <gtest/gtest.h>

#include "extensions/stopgap/project_logic.h"

namespace stopgap::project {
namespace {

TEST(StopgapProject, KeysNameModulesAndPackageFiles) {
  for (const char* ok : {"a.ts", "users/profile.ts", "x.mts", "lib/util.js", "lib/util.mjs", "my-mod/v1.2.ts",
                         "node_modules/zod/index.js", "node_modules/@scope/pkg/dist/a b.js"})
    EXPECT_EQ(key_problem(ok), std::nullopt) << ok;
  const std::pair<const char*, const char*> bad[] = {
      {"", "empty"},
      {"/etc/passwd.ts", "absolute"},
      {"a/../b.ts", "\"..\""},
      {"./a.ts", "\".\""},
      {"a//b.ts", "empty"},
      {"a\\b.ts", "backslash"},
      {"a\nb.ts", "control"},
      {"types.d.ts", "declaration"},
      {"readme.md", "not a module"},
      {"a b.ts", "character ' '"},
      {"caf\xc3\xa9.ts", "character"},
      {"node_modules/x.js", "outside any package"},
      {"node_modules/pkg/../../x.js", "\"..\""},
  };
  for (const auto& [key, why] : bad) {
    std::optional<std::string> p = key_problem(key);
    ASSERT_TRUE(p.has_value()) << key;
    EXPECT_NE(p->find(why), std::string::npos) << key << ": " << *p;
  }
  EXPECT_TRUE(is_package_file("node_modules/zod/index.js"));
  EXPECT_FALSE(is_package_file("lib/node_modules/zod/index.js"));
  EXPECT_FALSE(is_package_file("node_modules.ts"));
}

TEST(StopgapProject, NodeBuiltinsAreKnown) {
  for (const char* b : {"fs", "node:fs", "fs/promises", "node:sqlite", "process", "net", "child_process", "path/posix"})
    EXPECT_TRUE(is_node_builtin(b)) << b;
  for (const char* b : {"zod", "zod/mini", "fsx", "@types/node", "date-fns", "./fs", "paths"})
    EXPECT_FALSE(is_node_builtin(b)) << b;
}

TEST(StopgapProject, RelativeImportsResolveLikeTypeScriptAndNode) {
  const std::set<std::string> keys = {"a.ts", "lib/util.ts", "lib/index.ts", "lib/deep/x.mts",
                                      "users/profile.ts", "node_modules/p/index.js", "node_modules/p/lib/a.js"};
  EXPECT_EQ(resolve_relative("users/profile.ts", "../lib/util", keys), "lib/util.ts");
  EXPECT_EQ(resolve_relative("users/profile.ts", "../lib/util.ts", keys), "lib/util.ts");
  EXPECT_EQ(resolve_relative("users/profile.ts", "../lib/util.js", keys), "lib/util.ts");  // TS's .js convention
  EXPECT_EQ(resolve_relative("users/profile.ts", "../lib", keys), "lib/index.ts");
  EXPECT_EQ(resolve_relative("lib/util.ts", "./deep/x.mjs", keys), "lib/deep/x.mts");
  EXPECT_EQ(resolve_relative("lib/deep/x.mts", "../../a", keys), "a.ts");
  EXPECT_EQ(resolve_relative("a.ts", "./users/./profile", keys), "users/profile.ts");
  EXPECT_EQ(resolve_relative("node_modules/p/index.js", "./lib/a.js", keys), "node_modules/p/lib/a.js");
  EXPECT_EQ(resolve_relative("a.ts", "./missing", keys), std::nullopt);
  bool escapes = false;
  EXPECT_EQ(resolve_relative("a.ts", "../a", keys, &escapes), std::nullopt);
  EXPECT_TRUE(escapes);
  EXPECT_EQ(resolve_relative("users/profile.ts", "../../../etc/passwd", keys, &escapes), std::nullopt);
  EXPECT_TRUE(escapes);
  EXPECT_EQ(resolve_relative("users/profile.ts", "./nothing", keys, &escapes), std::nullopt);
  EXPECT_FALSE(escapes);
  EXPECT_EQ(resolve_relative("a.ts", "./", keys, &escapes), std::nullopt);  // the root is no file
}

TEST(StopgapProject, FunctionPathsAndLiveNames) {
  EXPECT_EQ(function_path("users/profile.ts", "get"), "api.users.profile.get");
  EXPECT_EQ(function_path("hello.mts", "default"), "api.hello.default");
  EXPECT_EQ(live_function_name("users/profile.ts", "get"), "users_profile_get");
  EXPECT_EQ(live_function_name("my-mod/v1.2.js", "run"), "my_mod_v1_2_run");
  EXPECT_EQ(live_name_problem("users_profile_get"), std::nullopt);
  EXPECT_EQ(live_name_problem(std::string(63, 'x')), std::nullopt);
  std::optional<std::string> p = live_name_problem(std::string(64, 'x'));
  ASSERT_TRUE(p.has_value());
  EXPECT_NE(p->find("63 bytes"), std::string::npos);
}

TEST(StopgapProject, CollidingLiveNamesAreReported) {
  EXPECT_TRUE(live_name_collisions({{"a/b.ts", {"c", "d"}}, {"a.ts", {"b_e"}}}).empty());
  auto c = live_name_collisions({{"a/b.ts", {"c"}}, {"a_b.ts", {"c"}}, {"a-b.ts", {"c", "x"}}});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].find("api.a-b.c"), std::string::npos) << c[0];
  EXPECT_NE(c[0].find("api.a.b.c"), std::string::npos) << c[0];
  EXPECT_NE(c[0].find("api.a_b.c"), std::string::npos) << c[0];
  EXPECT_NE(c[0].find("\"a_b_c\""), std::string::npos) << c[0];
}

TEST(StopgapProject, LinkingResolvesRelativeAndGivenImportsAndReportsTheRest) {
  Link l = link_files(
      {{"users/profile.ts", {"@stopgap/runtime", "../lib/util", "zod/mini", "fs", "./gone", "../../up", "left-pad",
                             "wrong"}},
       {"lib/util.ts", {}},
       {"node_modules/zod/mini/index.js", {"../core.js"}},
       {"node_modules/zod/core.js", {}}},
      {{"users/profile.ts", {{"zod/mini", "node_modules/zod/mini/index.js"}, {"wrong", "node_modules/zod/nope.js"}}}});
  EXPECT_EQ(l.targets["users/profile.ts"], (std::map<std::string, std::string>{
                                               {"../lib/util", "lib/util.ts"},
                                               {"zod/mini", "node_modules/zod/mini/index.js"}}));
  EXPECT_EQ(l.targets["node_modules/zod/mini/index.js"],
            (std::map<std::string, std::string>{{"../core.js", "node_modules/zod/core.js"}}));
  ASSERT_EQ(l.problems.size(), 1u);
  const auto& p = l.problems["users/profile.ts"];
  ASSERT_EQ(p.size(), 5u);
  EXPECT_NE(p[0].find("\"fs\" is a Node.js built-in"), std::string::npos) << p[0];
  EXPECT_NE(p[1].find("\"./gone\" names no file"), std::string::npos) << p[1];
  EXPECT_NE(p[2].find("\"../../up\" leaves"), std::string::npos) << p[2];
  EXPECT_NE(p[3].find("\"left-pad\" is not resolved"), std::string::npos) << p[3];
  EXPECT_NE(p[4].find("not a file of the project"), std::string::npos) << p[4];
}

}  // namespace
}  // namespace stopgap::project
