// `stopgap dev`: deploy, then redeploy after every change under stopgap/ until asked to stop.
#pragma once

#include <functional>
#include <iosfwd>

#include "cli/watch.h"

namespace stopgap::cli {

// The quiet time after the last change before a redeploy: an editor's save (write, rename,
// chmod) and a `git checkout` of many files become one deploy.
constexpr int kDevDebounceMs = 100;

// Deploys once, then waits on `watcher`: after a change, waits until `debounce_ms` pass without
// another one, then deploys again. `deploy` prints its own outcome and returns its exit code; a
// failed deploy does not end the loop. Returns 0 when the watcher reports kStop (SIGINT/SIGTERM).
// `status` (the human progress lines) goes to err.
int run_dev_loop(Watcher& watcher, const std::function<int()>& deploy, std::ostream& err,
                 int debounce_ms = kDevDebounceMs);

}  // namespace stopgap::cli
