// The compiler snapshot is verified before V8 sees it: a damaged or foreign snapshot falls back to
// the code cache or sources, never crashes the backend. Calling a compiled function never starts
// the compiler.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;

namespace {

std::string installed_snapshot() {
  Connection c;
  std::string libdir = c.scalar("select setting from pg_config where name = 'PKGLIBDIR'");
  return libdir + "/plts/compiler/compiler.snapshot";
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string write_temp(const std::string& name, const std::string& contents) {
  std::string path = "/tmp/plts_test_" + std::to_string(getpid()) + "_" + name;
  std::ofstream out(path, std::ios::binary);
  out << contents;
  out.close();
  chmod(path.c_str(), 0644);
  return path;
}

// Compiles in a fresh backend with the given snapshot; returns where the compiler came from.
std::string compile_with(const std::string& snapshot_path) {
  Connection c;
  c.query("set plts.compiler_snapshot = '" + snapshot_path + "'");
  EXPECT_EQ(
      c.scalar("select compiled_js from plts.compile_ts('export default (x: number) => x * 2;')"),
      "export default (x) => x * 2;\n");
  EXPECT_EQ(c.scalar("select d->>'message' from jsonb_array_elements(plts.typecheck_ts('const s: "
                     "string = 1;')) d"),
            "Type 'number' is not assignable to type 'string'.");
  std::string origin = c.scalar("select plts.metrics()->>'compiler'");
  EXPECT_TRUE(c.alive());
  return origin;
}

}  // namespace

TEST(CompilerSnapshot, InstalledSnapshotIsUsed) {
  EXPECT_EQ(compile_with(installed_snapshot()), "snapshot");
}

TEST(CompilerSnapshot, DamagedSnapshotsFallBackWithoutCrashing) {
  std::string good = read_all(installed_snapshot());
  ASSERT_GT(good.size(), 1000u);

  // truncated
  EXPECT_NE(compile_with(write_temp("truncated", good.substr(0, good.size() / 2))), "snapshot");
  // one flipped byte in the blob: the content hash catches it before V8 would abort
  std::string flipped = good;
  flipped[flipped.size() - 4096] ^= 0x5a;
  EXPECT_NE(compile_with(write_temp("flipped", flipped)), "snapshot");
  // made for another V8 build
  std::string foreign = good;
  size_t v = foreign.find("\nv8 ");
  ASSERT_NE(v, std::string::npos);
  foreign[v + 4] = foreign[v + 4] == '9' ? '8' : '9';
  EXPECT_NE(compile_with(write_temp("foreign", foreign)), "snapshot");
  // not a snapshot at all, and a missing file
  EXPECT_NE(compile_with(write_temp("garbage", std::string(100000, 'x'))), "snapshot");
  EXPECT_NE(compile_with("/nonexistent/plts.snapshot"), "snapshot");

  for (const char* n : {"truncated", "flipped", "foreign", "garbage"})
    unlink(("/tmp/plts_test_" + std::to_string(getpid()) + "_" + n).c_str());
}

TEST(CompilerSnapshot, OnlySuperusersChooseTheSnapshot) {
  Connection c;
  std::string role = "snap_user_" + std::to_string(getpid());
  c.query("create role " + role);
  c.query("set role " + role);
  EXPECT_EQ(c.error_of("set plts.compiler_snapshot = '/tmp/x'"), "42501");
  c.query("reset role");
  c.query("drop role " + role);
}

TEST(CompilerSnapshot, CallingACompiledFunctionNeverStartsTheCompiler) {
  std::string schema = "cmp_" + std::to_string(getpid());
  {
    Connection c;
    c.query("create schema " + schema);
    c.query("create function " + schema +
            ".typed(x int) returns int language plts as $$ "
            "export default (ctx: { args: { x: number } }): number => ctx.args.x * 3; $$");
  }
  Connection fresh;
  EXPECT_EQ(fresh.scalar("select " + schema + ".typed(5)"), "15");
  EXPECT_EQ(fresh.scalar("select plts.metrics()->>'compiler'"), "");
  fresh.query("drop schema " + schema + " cascade");
}

TEST(CompilerSnapshot, TimeoutDuringTypecheckLeavesTheCompilerUsable) {
  Connection c;
  c.query("set statement_timeout = '30ms'");
  EXPECT_EQ(
      c.error_of("select plts.typecheck_ts((select string_agg(format("
                 "'export function f%s(x: number): number { return x * %s; }', g, g), chr(10)) "
                 "from generate_series(1, 20000) g))"),
      "57014");
  c.query("reset statement_timeout");
  EXPECT_EQ(c.scalar("select compiled_js from plts.compile_ts('export default (x: number) => x;')"),
            "export default (x) => x;\n");
  EXPECT_EQ(c.scalar("select jsonb_array_length(plts.typecheck_ts('const s: string = 1;'))"), "1");
}

// A backend's compiler starts from the transpile snapshot for a compile and from the typecheck
// snapshot (lib files already parsed) for a typecheck; a compiler made for compiling is replaced
// at its first typecheck. Either way every result is the compiler's.
TEST(CompilerSnapshot, FirstTypecheckStartsFromTheTypecheckSnapshot) {
  Connection c;
  EXPECT_EQ(c.scalar("select plts.metrics()->>'compiler'"), "");
  EXPECT_EQ(c.scalar("select d->>'message' from jsonb_array_elements(plts.typecheck_ts('const s: "
                     "string = 1;')) d"),
            "Type 'number' is not assignable to type 'string'.");
  EXPECT_EQ(c.scalar("select plts.metrics()->>'compiler'"), "typecheck snapshot");
  EXPECT_EQ(
      c.scalar("select compiled_js from plts.compile_ts('export default (x: number) => x * 2;')"),
      "export default (x) => x * 2;\n");
  EXPECT_EQ(c.scalar("select plts.metrics()->>'compiler'"), "typecheck snapshot");
}

TEST(CompilerSnapshot, ATranspileCompilerIsReplacedAtItsFirstTypecheck) {
  Connection c;
  EXPECT_EQ(
      c.scalar("select compiled_js from plts.compile_ts('export default (x: number) => x * 3;')"),
      "export default (x) => x * 3;\n");
  EXPECT_EQ(c.scalar("select plts.metrics()->>'compiler'"), "snapshot");
  // A typecheck that uses the lib files (Array.prototype.includes is es2016, Promise es2015).
  EXPECT_EQ(c.scalar("select jsonb_array_length(plts.typecheck_ts('export const f = async (xs: "
                     "number[]): Promise<boolean> => xs.includes(1);'))"),
            "0");
  EXPECT_EQ(c.scalar("select plts.metrics()->>'compiler'"), "typecheck snapshot");
  EXPECT_EQ(c.scalar("select d->>'message' from jsonb_array_elements(plts.typecheck_ts('const n: "
                     "number = [1].at(0);')) d"),
            "Type 'number | undefined' is not assignable to type 'number'.\n  Type 'undefined' is "
            "not assignable to type 'number'.");
  // The replacement compiles as well, and keeps its parsed lib files.
  EXPECT_EQ(c.scalar("select compiled_js from plts.compile_ts('export const y: number = 1;')"),
            "export const y = 1;\n");
  EXPECT_EQ(c.scalar("select plts.metrics()->>'compiler'"), "typecheck snapshot");
  EXPECT_TRUE(c.alive());
}
