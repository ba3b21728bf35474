// Runs a command line against an Api: parsing, the command itself, output, and the mapping of
// every failure to its exit code (exit_codes.h).
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "cli/api.h"
#include "cli/args.h"
#include "cli/fs.h"
#include "cli/watch.h"

namespace stopgap::cli {

// Gives the Api for the parsed arguments; called only by commands that need the server, after
// everything that can be checked locally (the command line, the project) was.
using ApiFactory = std::function<Api&(const Args&)>;

struct Io {
  FileSystem& fs;
  std::string cwd;  // absolute
  std::ostream& out;
  std::ostream& err;
};

// What `stopgap dev` needs besides the Api: a watcher of a directory tree (InotifyWatcher by
// default), and a way to drop a lost connection so that the next deploy opens a new one.
struct DevHooks {
  std::function<std::unique_ptr<Watcher>(const std::string& dir)> watcher;
  std::function<void()> reconnect;
};

// The exit code of a server error raised by command c.
int exit_code_for(const ApiError& e, Command c);

// argv without the program name; returns the exit code.
int run_cli(const std::vector<std::string>& argv, const ApiFactory& api, Io& io,
            const DevHooks& dev = {});

}  // namespace stopgap::cli
