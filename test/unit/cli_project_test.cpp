// Project discovery, the deploy payload, function paths and `stopgap init` (cli/project.cpp,
// cli/paths.cpp, cli/init.cpp) over an in-memory tree.
#include <gtest/gtest.h>

#include "cli/init.h"
#include "cli/memory_fs.h"
#include "cli/paths.h"
#include "cli/project.h"
#include "cli/resolve.h"

namespace stopgap::cli {
namespace {

using json = nlohmann::json;

TEST(CliProject, RootIsTheDirectoryHoldingStopgap) {
  MemoryFs fs{{"/p/stopgap/a.ts", ""}, {"/q/README.md", ""}};
  EXPECT_EQ(find_project_root(fs, "/p"), "/p");
  try {
    find_project_root(fs, "/q");
    FAIL();
  } catch (const ProjectError& e) {
    EXPECT_STREQ(e.what(), "not a stopgap project (no stopgap/ directory): run stopgap init");
  }
  fs.add("/r/stopgap", "a file, not a directory");
  EXPECT_THROW(find_project_root(fs, "/r"), ProjectError);
}

TEST(CliProject, ModuleFiles) {
  EXPECT_TRUE(is_module_file("a.ts"));
  EXPECT_TRUE(is_module_file("a.mts"));
  EXPECT_TRUE(is_module_file("a.js"));
  EXPECT_TRUE(is_module_file("a.mjs"));
  EXPECT_FALSE(is_module_file("a.d.ts"));
  EXPECT_FALSE(is_module_file("a.d.mts"));
  EXPECT_FALSE(is_module_file("tsconfig.json"));
  EXPECT_FALSE(is_module_file("a.tsx"));
}

TEST(CliProject, PayloadHoldsEveryModuleAndSkipsTheRest) {
  MemoryFs fs{{"/p/stopgap/example.ts", "export const a = 1;"},
              {"/p/stopgap/users/profile.ts",
               "import { x } from '../lib/x.ts'; import { query } from \"@stopgap/runtime\";"},
              {"/p/stopgap/lib/x.ts", "export const x = 1;"},
              {"/p/stopgap/legacy.js", "export default 1;"},
              {"/p/stopgap/esm.mts", "export default 2;"},
              {"/p/stopgap/types.d.ts", "declare const t: number;"},
              {"/p/stopgap/tsconfig.json", "{}"},
              {"/p/stopgap/.hidden.ts", "x"},
              {"/p/stopgap/.cache/y.ts", "x"},
              {"/p/stopgap/_generated/api.ts", "generated"},
              {"/p/stopgap/users/_generated/kept.ts", "only the top-level _generated is skipped"},
              {"/p/stopgap/node_modules/dep/index.js", "not a module"},
              {"/p/outside.ts", "not under stopgap/"}};
  json payload = build_project_payload(fs, "/p");
  json modules = json::object();
  for (const char* key : {"example.ts", "users/profile.ts", "lib/x.ts", "legacy.js", "esm.mts",
                          "users/_generated/kept.ts"})
    modules[key] = *fs.read(std::string("/p/stopgap/") + key);
  EXPECT_EQ(payload, json({{"modules", modules}, {"resolve", json::object()}}));
}

TEST(CliProject, NpmFilesReachedTransitivelyAreIncludedAndMapped) {
  MemoryFs fs{
      {"/p/stopgap/users/profile.ts",
       "import { z } from 'zod/mini';\nimport { format } from 'date-fns';"},
      {"/p/stopgap/other.ts", "import { z } from 'zod/mini';"},
      {"/p/node_modules/zod/package.json",
       R"({"type":"module","exports":{".":"./index.js","./mini":{"import":"./mini/index.js"}}})"},
      {"/p/node_modules/zod/mini/index.js",
       "export * from '../core/core.js';\nexport { z } from '../core/z.js';"},
      {"/p/node_modules/zod/core/core.js",
       "import { util } from './util.js'; export const core = util;"},
      {"/p/node_modules/zod/core/util.js",
       "import { core } from './core.js'; export const util = 1;"},  // a cycle
      {"/p/node_modules/zod/core/z.js", "export const z = 1;"},
      {"/p/node_modules/zod/index.js", "never reached"},
      {"/p/node_modules/date-fns/package.json",
       R"({"type":"module","exports":{".":{"import":"./index.js"}}})"},
      {"/p/node_modules/date-fns/index.js", "export * from './format.js';"},
      {"/p/node_modules/date-fns/format.js", "import { t } from 'tiny'; export const format = t;"},
      {"/p/node_modules/date-fns/node_modules/tiny/package.json", R"({"module":"t.js"})"},
      {"/p/node_modules/date-fns/node_modules/tiny/t.js", "export const t = 1;"}};
  json payload = build_project_payload(fs, "/p");
  std::vector<std::string> keys;
  for (auto& [k, _] : payload["modules"].items()) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{
                "node_modules/date-fns/format.js", "node_modules/date-fns/index.js",
                "node_modules/date-fns/node_modules/tiny/t.js", "node_modules/zod/core/core.js",
                "node_modules/zod/core/util.js", "node_modules/zod/core/z.js",
                "node_modules/zod/mini/index.js", "other.ts", "users/profile.ts"}));
  EXPECT_EQ(payload["modules"]["node_modules/zod/core/z.js"], "export const z = 1;");
  EXPECT_EQ(payload["resolve"],
            json({{"users/profile.ts",
                   {{"zod/mini", "node_modules/zod/mini/index.js"},
                    {"date-fns", "node_modules/date-fns/index.js"}}},
                  {"other.ts", {{"zod/mini", "node_modules/zod/mini/index.js"}}},
                  {"node_modules/date-fns/format.js",
                   {{"tiny", "node_modules/date-fns/node_modules/tiny/t.js"}}}}));
}

TEST(CliProject, UnresolvableImportsFailTheBuild) {
  MemoryFs fs{{"/p/stopgap/a.ts", "import fs from 'node:fs';"}};
  EXPECT_THROW(build_project_payload(fs, "/p"), ResolveError);
  MemoryFs cjs{{"/p/stopgap/a.ts", "import _ from 'lodash';"},
               {"/p/node_modules/lodash/package.json", R"({"main":"lodash.js"})"},
               {"/p/node_modules/lodash/lodash.js", ""}};
  EXPECT_THROW(build_project_payload(cjs, "/p"), ResolveError);
  // A package file whose own import uses a built-in fails too, naming that file.
  MemoryFs deep{
      {"/p/stopgap/a.ts", "import { x } from 'pkg';"},
      {"/p/node_modules/pkg/package.json", R"({"type":"module"})"},
      {"/p/node_modules/pkg/index.js", "import { readFileSync } from 'fs'; export const x = 1;"}};
  try {
    build_project_payload(deep, "/p");
    FAIL();
  } catch (const ResolveError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(
                  "node_modules/pkg/index.js: imports the Node built-in \"fs\"", 0),
              0u)
        << e.what();
  }
  // Relative imports inside a package follow the server's rules (extensions, index files), and
  // must stay inside the package and name module files.
  MemoryFs rel{{"/p/stopgap/a.ts", "import { x } from 'pkg';"},
               {"/p/node_modules/pkg/package.json", R"({"type":"module"})"},
               {"/p/node_modules/pkg/index.js", "export * from './lib'; export * from './dir';"},
               {"/p/node_modules/pkg/lib.js", "export const l = 1;"},
               {"/p/node_modules/pkg/dir/index.mjs", "export const d = 1;"}};
  json payload = build_project_payload(rel, "/p");
  EXPECT_EQ(payload["modules"].size(), 4u);
  EXPECT_EQ(payload["modules"]["node_modules/pkg/lib.js"], "export const l = 1;");
  EXPECT_EQ(payload["modules"]["node_modules/pkg/dir/index.mjs"], "export const d = 1;");
  for (const char* bad : {"./missing", "./data.json", "./legacy.cjs", "../other/x.js"}) {
    MemoryFs fs2 = rel;
    fs2.add("/p/node_modules/pkg/index.js",
            std::string("import './lib.js'; import '") + bad + "';");
    fs2.add("/p/node_modules/pkg/data.json", "{}");
    fs2.add("/p/node_modules/pkg/legacy.cjs", "");
    fs2.add("/p/node_modules/other/x.js", "");
    try {
      build_project_payload(fs2, "/p");
      ADD_FAILURE() << bad;
    } catch (const ResolveError& e) {
      EXPECT_EQ(std::string(e.what()),
                std::string("node_modules/pkg/index.js: cannot import \"") + bad +
                    "\": no module file of its package (node_modules/pkg) by that name");
    }
  }
  // A module path the server would refuse is reported before anything is sent.
  MemoryFs badname{{"/p/stopgap/my module.ts", ""}};
  try {
    build_project_payload(badname, "/p");
    FAIL();
  } catch (const ProjectError& e) {
    EXPECT_EQ(
        std::string(e.what()).rfind(
            "stopgap/my module.ts: the server refuses this module path: the character ' '", 0),
        0u)
        << e.what();
  }
  // Only "@stopgap/runtime" itself is provided by plts; a subpath of it is an ordinary import.
  MemoryFs sub{{"/p/stopgap/a.ts",
                "import { query } from '@stopgap/runtime'; import x from '@stopgap/runtime/x';"}};
  EXPECT_THROW(build_project_payload(sub, "/p"), ResolveError);
  MemoryFs runtime_only{{"/p/stopgap/a.ts", "import { query } from '@stopgap/runtime';"}};
  EXPECT_EQ(build_project_payload(runtime_only, "/p")["resolve"], json::object());
}

TEST(CliPaths, ModulePathToFunctionPathAndLiveName) {
  EXPECT_EQ(function_path("users/profile.ts", "get"), "api.users.profile.get");
  EXPECT_EQ(live_function_name("users/profile.ts", "get"), "users_profile_get");
  EXPECT_EQ(function_path("example.ts", "hello"), "api.example.hello");
  EXPECT_EQ(live_function_name("example.ts", "hello"), "example_hello");
  EXPECT_EQ(function_path("a/b/c.mts", "d"), "api.a.b.c.d");
  EXPECT_EQ(live_function_name("a/b/c.js", "d"), "a_b_c_d");
  // The server's rule (extensions/stopgap/project_logic.h): '-' and '.' become '_' too.
  EXPECT_EQ(live_function_name("user-profile/v1.2.ts", "get"), "user_profile_v1_2_get");
  EXPECT_EQ(function_path("user-profile/v1.2.ts", "get"), "api.user-profile.v1.2.get");
}

TEST(CliInit, CreatesTheSkeletonOnceAndNeverOverwrites) {
  MemoryFs fs;
  fs.add_dir("/p");
  InitResult r = init_project(fs, "/p");
  EXPECT_EQ(r.created,
            (std::vector<std::string>{"stopgap/", "stopgap/example.ts", "stopgap/tsconfig.json"}));
  EXPECT_EQ(r.package_json, "missing");
  EXPECT_TRUE(r.changed());
  const std::string example = *fs.read("/p/stopgap/example.ts");
  EXPECT_NE(example.find("export const hello = query("), std::string::npos);
  EXPECT_NE(example.find("from \"@stopgap/runtime\""), std::string::npos);
  json tsconfig = json::parse(*fs.read("/p/stopgap/tsconfig.json"));
  EXPECT_EQ(tsconfig["compilerOptions"]["types"], json({"@stopgap/runtime"}));
  EXPECT_EQ(tsconfig["compilerOptions"]["lib"], json({"ES2022"}));

  fs.write("/p/stopgap/example.ts", "edited by the user");
  auto before = fs.files();
  r = init_project(fs, "/p");
  EXPECT_TRUE(r.created.empty());
  EXPECT_FALSE(r.changed());
  EXPECT_EQ(fs.files(), before);
}

TEST(CliInit, AddsTheRuntimeToPackageJsonKeepingItsOrder) {
  MemoryFs fs{{"/p/package.json",
               R"({"name":"app","scripts":{"b":"x"},"devDependencies":{"typescript":"5.9.3"}})"}};
  InitResult r = init_project(fs, "/p");
  EXPECT_EQ(r.package_json, "added");
  EXPECT_EQ(*fs.read("/p/package.json"),
            "{\n  \"name\": \"app\",\n  \"scripts\": {\n    \"b\": \"x\"\n  },\n  "
            "\"devDependencies\": {\n"
            "    \"typescript\": \"5.9.3\",\n    \"@stopgap/runtime\": \"" +
                runtime_dependency() + "\"\n  }\n}\n");
  // the runtime is not on the npm registry: init points at the copy installed with the extension
  EXPECT_EQ(runtime_dependency().rfind("file:/", 0), 0u) << runtime_dependency();
  r = init_project(fs, "/p");
  EXPECT_EQ(r.package_json, "present");
  EXPECT_FALSE(r.changed());

  MemoryFs dep{
      {"/p/package.json", R"({"dependencies":{"@stopgap/runtime":"file:../runtime-js"}})"}};
  EXPECT_EQ(init_project(dep, "/p").package_json, "present");
  MemoryFs broken{{"/p/package.json", "[1,2]"}};
  EXPECT_THROW(init_project(broken, "/p"), ProjectError);
}

}  // namespace
}  // namespace stopgap::cli
