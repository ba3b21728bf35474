// The import scanner of the stopgap CLI (cli/import_scan.cpp).
#include <gtest/gtest.h>

#include "cli/import_scan.h"

namespace stopgap::cli {
namespace {

using V = std::vector<std::string>;

TEST(CliImportScan, EveryImportForm) {
  const char* src = R"(
import def from "a";
import * as ns from 'b';
import { x, y as z } from "c";
import def2, { w } from "d";
import "e";
export * from "f";
export * as g from "g";
export { h } from "h";
export { default } from "i";
const m = await import("j");
const n = import('k', { with: { type: "json" } });
import type from "l";          // a default import named "type"
import json from "m" with { type: "json" };
)";
  EXPECT_EQ(scan_imports(src),
            (V{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"}));
}

TEST(CliImportScan, EachSpecifierOnceInOrder) {
  EXPECT_EQ(scan_imports("import a from 'z'; import b from 'y'; import c from 'z';"),
            (V{"z", "y"}));
}

TEST(CliImportScan, TypeOnlyStatementsAreLeftOut) {
  const char* src = R"(
import type { A } from "types-only";
import type B from "types-only-2";
import type * as C from "types-only-3";
export type { D } from "types-only-4";
import { type E, f } from "mixed";
)";
  EXPECT_EQ(scan_imports(src), (V{"mixed"}));
}

TEST(CliImportScan, CommentsAndStringsHideImports) {
  const char* src = R"(
// import a from "in-line-comment";
/* import b from "in-block-comment";
   export * from "still-comment"; */
const s1 = "import c from 'in-double-quotes'";
const s2 = 'export * from "in-single-quotes"';
const s3 = "escaped \" import d from 'still-in-string'";
const t = `import e from "in-template"`;
import real from "real"; /* a comment "with quotes */ import real2 from "real2";
)";
  EXPECT_EQ(scan_imports(src), (V{"real", "real2"}));
}

TEST(CliImportScan, TemplateSubstitutionsAreCode) {
  const char* src =
      "const a = `x ${ await import(\"inside-substitution\") } y ${ `nested ${ {a: 1}.a } import "
      "\"no\"` }`;\n"
      "const b = `${ { k: `}` }.k }`; import after from \"after-templates\";";
  EXPECT_EQ(scan_imports(src), (V{"inside-substitution", "after-templates"}));
}

TEST(CliImportScan, RegularExpressionsAreNotStrings) {
  // A quote inside a regex would otherwise open a string that swallows the next import.
  const char* src = R"(
const re = /["']/g;
const re2 = /[/"]/;
if (ok) x = y.replace(/'/, "");
import a from "after-regex";
const ratio = total / count / 2; import b from "after-division";
const q = typeof /"/;
import c from "after-typeof-regex";
)";
  EXPECT_EQ(scan_imports(src), (V{"after-regex", "after-division", "after-typeof-regex"}));
}

TEST(CliImportScan, NotImports) {
  const char* src = R"(
obj.import("not-a-dynamic-import");
const o = { import: "prop", from: "x" };
const u = import.meta.url;
const dyn = import(name);                 // not a literal: nothing to resolve
class K { import() { return "k"; } }
import x = require("ts-commonjs");
export { local };
export const from = "z";
)";
  EXPECT_EQ(scan_imports(src), V{});
}

TEST(CliImportScan, EscapesInSpecifiers) {
  EXPECT_EQ(scan_imports(R"(import a from "caf\u00e9"; import b from '\x41\u{1F600}';)"),
            (V{"café", "A\xF0\x9F\x98\x80"}));
}

TEST(CliImportScan, HashbangAndMultilineStatements) {
  const char* src =
      "#!/usr/bin/env node\nimport {\n  a,\n  // b,\n  c as \"d e\",\n} from\n  \"multi\";\n";
  EXPECT_EQ(scan_imports(src), (V{"multi"}));
}

TEST(CliImportScan, UnterminatedInputEnds) {
  EXPECT_EQ(scan_imports("import a from \"x\"; const s = \"never closed"), (V{"x"}));
  EXPECT_EQ(scan_imports("import a from \"x\"; /* never closed"), (V{"x"}));
  EXPECT_EQ(scan_imports("import a from \"x\"; `never closed ${"), (V{"x"}));
  EXPECT_EQ(scan_imports("import("), V{});
  EXPECT_EQ(scan_imports(""), V{});
}

}  // namespace
}  // namespace stopgap::cli
