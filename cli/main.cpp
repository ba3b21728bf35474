// The stopgap command-line tool: see `stopgap --help` and exit_codes.h.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/pg_api.h"

int main(int argc, char** argv) {
  using namespace stopgap::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::unique_ptr<PgApi> api;
  ApiFactory factory = [&](const Args& a) -> Api& {
    if (!api) api = std::make_unique<PgApi>(conninfo(a, std::getenv("STOPGAP_DB")));
    return *api;
  };
  std::error_code ec;
  std::string cwd = std::filesystem::current_path(ec).string();
  RealFs fs;
  Io io{fs, cwd, std::cout, std::cerr};
  DevHooks dev;
  dev.reconnect = [&] { api.reset(); };  // `stopgap dev` survives a server restart
  int code = run_cli(args, factory, io, dev);
  std::cout.flush();
  return code;
}
