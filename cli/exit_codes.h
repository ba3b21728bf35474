// The stopgap CLI's exit codes. They are part of its interface (scripts and CI test them), so a
// code keeps its meaning forever; a new kind of failure gets a new number.
//
//   0  ok
//   1  internal error (a bug in the CLI: please report it)
//   2  usage: unknown command or option, missing or malformed argument
//   3  connection failure: the server could not be reached or refused the login
//   4  SQL or permission failure reported by the server (any SQLSTATE not listed under 5)
//   5  compile or type errors in the deployed code (deploy, or the problems a dry run / diff
//      reports, with SQLSTATE 42804 type error, 42601 syntax error or 42P17); the diagnostics are
//      printed one per line, "stopgap/users/profile.ts:12:7: error TS2322: ..."
//   6  project layout: no stopgap/ directory, an unreadable module, a module path the server
//      refuses, an import that cannot be resolved (missing or CommonJS npm package, Node built-in)
//   7  response decoding: the server answered with something this CLI does not understand
//      (usually a CLI older or newer than the stopgap extension)
#pragma once

namespace stopgap::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,
  kExitUsage = 2,
  kExitConnect = 3,
  kExitSql = 4,
  kExitCompile = 5,
  kExitProject = 6,
  kExitDecode = 7,
};

}  // namespace stopgap::cli
