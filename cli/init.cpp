#include "cli/init.h"

#include <nlohmann/json.hpp>

#include "cli/project.h"

namespace stopgap::cli {
namespace {

const char* const kExampleModule =
    R"(// A stopgap module: each query(...) or mutation(...) export is a function, called by path.
// This one is api.example.hello:
//   SELECT stopgap.call_fn('api.example.hello', '{"name": "world"}');
import { query, v } from "@stopgap/runtime";

export const hello = query(v.object({ name: v.string() }), async (args, ctx) => {
  const [row] = await ctx.db.query("select current_user as db_user");
  return { greeting: `Hello, ${args.name}!`, db_user: row.db_user as string };
});
)";

// Types come from @stopgap/runtime only (no @types/node: functions run inside PostgreSQL, where
// Node's globals do not exist); lib ES2022 is what plts's V8 implements.
const char* const kTsconfig = R"({
  "compilerOptions": {
    "target": "ES2022",
    "module": "ES2022",
    "moduleResolution": "Bundler",
    "lib": ["ES2022"],
    "types": ["@stopgap/runtime"],
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["**/*.ts", "**/*.mts"]
}
)";

const char* const kRuntimePackage = "@stopgap/runtime";
#ifdef STOPGAP_RUNTIME_PACKAGE_DIR
// The copy `cmake --install` put beside the extension (cli/CMakeLists.txt).
const char* const kRuntimeVersion = "file:" STOPGAP_RUNTIME_PACKAGE_DIR;
#else
const char* const kRuntimeVersion = "^0.1.0";
#endif

}  // namespace

std::string runtime_dependency() { return kRuntimeVersion; }

InitResult init_project(FileSystem& fs, const std::string& root) {
  InitResult r;
  try {
    const std::string dir = path_join(root, "stopgap");
    if (!fs.is_dir(dir)) {
      fs.make_dir(dir);
      r.created.push_back("stopgap/");
    }
    for (const auto& [name, text] :
         {std::pair{"example.ts", kExampleModule}, std::pair{"tsconfig.json", kTsconfig}}) {
      std::string path = path_join(dir, name);
      if (fs.is_file(path) || fs.is_dir(path)) continue;
      fs.write(path, text);
      r.created.push_back(std::string("stopgap/") + name);
    }
    const std::string pkg_path = path_join(root, "package.json");
    auto pkg_text = fs.read(pkg_path);
    if (!pkg_text) {
      r.package_json = "missing";
      return r;
    }
    auto pkg = nlohmann::ordered_json::parse(*pkg_text, nullptr, false);
    if (pkg.is_discarded() || !pkg.is_object())
      throw ProjectError("package.json is not a JSON object: fix it, then run stopgap init again");
    for (const char* deps : {"dependencies", "devDependencies"})
      if (pkg.contains(deps) && pkg[deps].is_object() && pkg[deps].contains(kRuntimePackage)) {
        r.package_json = "present";
        return r;
      }
    if (pkg.contains("devDependencies") && !pkg["devDependencies"].is_object())
      throw ProjectError("package.json: \"devDependencies\" is not an object");
    pkg["devDependencies"][kRuntimePackage] = kRuntimeVersion;
    fs.write(pkg_path, pkg.dump(2) + "\n");
    r.package_json = "added";
  } catch (const FsError& e) {
    throw ProjectError(e.what());
  }
  return r;
}

}  // namespace stopgap::cli
