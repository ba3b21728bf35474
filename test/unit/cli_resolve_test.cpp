// node_modules resolution of the stopgap CLI (cli/resolve.cpp) over an in-memory tree.
#include <gtest/gtest.h>

#include "cli/memory_fs.h"
#include "cli/resolve.h"

namespace stopgap::cli {
namespace {

const std::string kRoot = "/p";
const std::string kImporter = "/p/stopgap/users/profile.ts";

std::string resolve(const MemoryFs& fs, const std::string& spec,
                    const std::string& importer = kImporter) {
  return resolve_bare(fs, kRoot, importer, spec);
}

std::string resolve_error(const MemoryFs& fs, const std::string& spec,
                          const std::string& importer = kImporter) {
  try {
    resolve_bare(fs, kRoot, importer, spec);
  } catch (const ResolveError& e) {
    return e.what();
  }
  return "";
}

TEST(CliResolve, BareSpecifiers) {
  EXPECT_TRUE(is_bare_specifier("zod"));
  EXPECT_TRUE(is_bare_specifier("zod/mini"));
  EXPECT_TRUE(is_bare_specifier("@scope/pkg/x"));
  EXPECT_TRUE(is_bare_specifier("node:fs"));  // bare, and refused as a built-in
  EXPECT_FALSE(is_bare_specifier("./x.ts"));
  EXPECT_FALSE(is_bare_specifier("../x.ts"));
  EXPECT_FALSE(is_bare_specifier("/abs.js"));
  EXPECT_FALSE(is_bare_specifier("data:text/javascript,export default 1"));
  EXPECT_FALSE(is_bare_specifier("https://esm.sh/zod"));
  EXPECT_FALSE(is_bare_specifier("plts+artifact:sha256:abc"));
}

TEST(CliResolve, ExportsString) {
  MemoryFs fs{{"/p/node_modules/a/package.json", R"({"type":"module","exports":"./dist/a.js"})"},
              {"/p/node_modules/a/dist/a.js", "export default 1"}};
  EXPECT_EQ(resolve(fs, "a"), "/p/node_modules/a/dist/a.js");
  EXPECT_EQ(
      resolve_error(fs, "a/dist/a.js"),
      "stopgap/users/profile.ts: cannot import \"a/dist/a.js\": package \"a\" does not export "
      "\"./dist/a.js\" for ES module imports (no \"import\" or \"default\" condition matches)");
}

TEST(CliResolve, SubpathMapsWithConditionsInKeyOrder) {
  MemoryFs fs{{"/p/node_modules/zod/package.json", R"({
      "name": "zod", "type": "module",
      "exports": {
        ".": {"types": "./index.d.ts", "require": "./index.cjs", "import": "./index.js"},
        "./mini": {"import": {"types": "./mini/index.d.ts", "default": "./mini/index.js"},
                   "require": "./mini/index.cjs"},
        "./first": {"default": "./first-default.js", "import": "./first-import.js"},
        "./v4/*": "./v4/*.js",
        "./v4/core/*": {"import": "./v4/core/*/index.js"},
        "./hidden": null,
        "./fallback": [{"worker": "./w.js"}, "./fb.js"],
        "./package.json": "./package.json"
      }})"},
              {"/p/node_modules/zod/index.js", ""},
              {"/p/node_modules/zod/mini/index.js", ""},
              {"/p/node_modules/zod/first-default.js", ""},
              {"/p/node_modules/zod/first-import.js", ""},
              {"/p/node_modules/zod/v4/classic.js", ""},
              {"/p/node_modules/zod/v4/core/checks/index.js", ""},
              {"/p/node_modules/zod/fb.js", ""}};
  EXPECT_EQ(resolve(fs, "zod"), "/p/node_modules/zod/index.js");  // "require" and "types" skipped
  EXPECT_EQ(resolve(fs, "zod/mini"), "/p/node_modules/zod/mini/index.js");      // nested conditions
  EXPECT_EQ(resolve(fs, "zod/first"), "/p/node_modules/zod/first-default.js");  // Node: key order
  EXPECT_EQ(resolve(fs, "zod/v4/classic"), "/p/node_modules/zod/v4/classic.js");  // pattern
  EXPECT_EQ(resolve(fs, "zod/v4/core/checks"),
            "/p/node_modules/zod/v4/core/checks/index.js");  // longest
  EXPECT_EQ(resolve(fs, "zod/fallback"), "/p/node_modules/zod/fb.js");
  EXPECT_NE(resolve_error(fs, "zod/hidden").find("does not export \"./hidden\""),
            std::string::npos);
  EXPECT_NE(resolve_error(fs, "zod/nope").find("does not export \"./nope\""), std::string::npos);
}

TEST(CliResolve, RequireOnlyConditionIsNotAnEsModule) {
  MemoryFs fs{{"/p/node_modules/c/package.json", R"({"exports": {"require": "./c.js"}})"},
              {"/p/node_modules/c/c.js", ""}};
  EXPECT_NE(resolve_error(fs, "c").find("package \"c\" does not export \".\""), std::string::npos);
}

TEST(CliResolve, ExportTargetsStayInsideThePackage) {
  MemoryFs fs{
      {"/p/node_modules/e/package.json",
       R"({"type":"module","exports":{".":"./../other/x.js","./b":"dist/b.js","./c":"./node_modules/x/y.js"}})"},
      {"/p/node_modules/other/x.js", ""}};
  EXPECT_NE(resolve_error(fs, "e").find("outside the package"), std::string::npos);
  EXPECT_NE(resolve_error(fs, "e/b").find("not a \"./\" path"), std::string::npos);
  EXPECT_NE(resolve_error(fs, "e/c").find("outside the package"), std::string::npos);
}

TEST(CliResolve, ModuleThenMainThenIndex) {
  MemoryFs fs{{"/p/node_modules/m/package.json", R"({"main": "./cjs.js", "module": "./esm.js"})"},
              {"/p/node_modules/m/esm.js", ""},
              {"/p/node_modules/m/cjs.js", ""},
              {"/p/node_modules/n/package.json", R"({"type": "module", "main": "lib/main"})"},
              {"/p/node_modules/n/lib/main.js", ""},
              {"/p/node_modules/i/package.json", R"({"type": "module"})"},
              {"/p/node_modules/i/index.js", ""},
              {"/p/node_modules/i/sub/file.js", ""},
              {"/p/node_modules/i/dir/index.js", ""}};
  EXPECT_EQ(resolve(fs, "m"), "/p/node_modules/m/esm.js");
  EXPECT_EQ(resolve(fs, "n"), "/p/node_modules/n/lib/main.js");  // legacy main without extension
  EXPECT_EQ(resolve(fs, "i"), "/p/node_modules/i/index.js");
  EXPECT_EQ(resolve(fs, "i/sub/file.js"), "/p/node_modules/i/sub/file.js");  // no exports: any file
  EXPECT_EQ(resolve(fs, "i/dir"), "/p/node_modules/i/dir/index.js");
  EXPECT_NE(
      resolve_error(fs, "i/missing.js")
          .find("resolves \"./missing.js\" to node_modules/i/missing.js, which does not exist"),
      std::string::npos);
}

TEST(CliResolve, ScopedPackages) {
  MemoryFs fs{{"/p/node_modules/@acme/util/package.json",
               R"({"type":"module","exports":{".":"./index.js","./str":"./str.js"}})"},
              {"/p/node_modules/@acme/util/index.js", ""},
              {"/p/node_modules/@acme/util/str.js", ""}};
  EXPECT_EQ(resolve(fs, "@acme/util"), "/p/node_modules/@acme/util/index.js");
  EXPECT_EQ(resolve(fs, "@acme/util/str"), "/p/node_modules/@acme/util/str.js");
  EXPECT_NE(resolve_error(fs, "@acme").find("not a valid package name"), std::string::npos);
  EXPECT_NE(resolve_error(fs, "@acme/other").find("package \"@acme/other\" is not installed"),
            std::string::npos);
}

TEST(CliResolve, CommonJsIsRefusedNamingThePackage) {
  MemoryFs fs{{"/p/node_modules/lodash/package.json", R"({"name":"lodash","main":"lodash.js"})"},
              {"/p/node_modules/lodash/lodash.js", "module.exports = {}"},
              {"/p/node_modules/cj/package.json", R"({"type":"module","exports":"./x.cjs"})"},
              {"/p/node_modules/cj/x.cjs", ""},
              {"/p/node_modules/mj/package.json", R"({"exports":"./x.mjs"})"},
              {"/p/node_modules/mj/x.mjs", ""},
              // A package whose ESM build says so in its own nested package.json.
              {"/p/node_modules/dual/package.json",
               R"({"exports":{"import":"./esm/index.js","require":"./cjs/index.js"}})"},
              {"/p/node_modules/dual/esm/package.json", R"({"type":"module"})"},
              {"/p/node_modules/dual/esm/index.js", ""}};
  EXPECT_EQ(
      resolve_error(fs, "lodash"),
      "stopgap/users/profile.ts: cannot import \"lodash\": package \"lodash\" is CommonJS "
      "(node_modules/lodash/lodash.js); plts loads only ES modules: use a version or build of "
      "\"lodash\" that ships ES modules");
  EXPECT_NE(resolve_error(fs, "cj").find("package \"cj\" is CommonJS"), std::string::npos);
  EXPECT_EQ(resolve(fs, "mj"), "/p/node_modules/mj/x.mjs");
  EXPECT_EQ(resolve(fs, "dual"), "/p/node_modules/dual/esm/index.js");
}

TEST(CliResolve, NodeBuiltinsAreRefusedNamingTheImportAndTheFile) {
  MemoryFs fs;
  for (const char* spec :
       {"fs", "fs/promises", "path", "net", "process", "node:fs", "node:test", "child_process"}) {
    EXPECT_TRUE(is_node_builtin(spec)) << spec;
    EXPECT_EQ(resolve_error(fs, spec),
              std::string("stopgap/users/profile.ts: imports the Node built-in \"") + spec +
                  "\", which plts does not provide (functions run inside PostgreSQL, without file "
                  "system, network or process access)");
  }
  EXPECT_FALSE(is_node_builtin("zod"));
  EXPECT_FALSE(is_node_builtin("fs-extra"));
  EXPECT_FALSE(is_node_builtin("@types/node"));
  EXPECT_TRUE(is_node_builtin("stream/web"));
}

TEST(CliResolve, WalksUpFromTheImporterToTheProjectRoot) {
  MemoryFs fs{{"/p/node_modules/x/package.json", R"({"type":"module"})"},
              {"/p/node_modules/x/index.js", "root"},
              {"/p/stopgap/node_modules/x/package.json", R"({"type":"module"})"},
              {"/p/stopgap/node_modules/x/index.js", "nearer"},
              {"/p/node_modules/a/package.json", R"({"type":"module"})"},
              {"/p/node_modules/a/index.js", ""},
              {"/p/node_modules/a/node_modules/x/package.json", R"({"type":"module"})"},
              {"/p/node_modules/a/node_modules/x/index.js", "nested"},
              {"/node_modules/y/package.json", R"({"type":"module"})"},
              {"/node_modules/y/index.js", "above the project"}};
  // stopgap/node_modules is left out: the server keys package files "node_modules/...".
  EXPECT_EQ(resolve(fs, "x"), "/p/node_modules/x/index.js");
  EXPECT_EQ(resolve(fs, "x", "/p/other.ts"), "/p/node_modules/x/index.js");
  EXPECT_EQ(resolve(fs, "x", "/p/node_modules/a/index.js"),
            "/p/node_modules/a/node_modules/x/index.js");
  EXPECT_EQ(resolve_error(fs, "y"),
            "stopgap/users/profile.ts: cannot import \"y\": package \"y\" is not installed (no "
            "node_modules/y between the importing file and the project root, stopgap/ left out): "
            "run npm install");
}

TEST(CliResolve, BrokenPackageJson) {
  MemoryFs fs{
      {"/p/node_modules/b/package.json", "{not json"},
      {"/p/node_modules/mix/package.json", R"({"exports":{".":"./a.js","import":"./b.js"}})"}};
  EXPECT_NE(resolve_error(fs, "b").find("node_modules/b/package.json is not a JSON object"),
            std::string::npos);
  EXPECT_NE(resolve_error(fs, "mix").find("mixes subpaths and conditions"), std::string::npos);
}

}  // namespace
}  // namespace stopgap::cli
