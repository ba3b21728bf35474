#include "cli/dev.h"

#include <ostream>

namespace stopgap::cli {

int run_dev_loop(Watcher& watcher, const std::function<int()>& deploy, std::ostream& err,
                 int debounce_ms) {
  err << "watching stopgap/ for changes (Ctrl-C to stop)\n";
  deploy();
  for (;;) {
    WatchEvent e = watcher.wait(-1);
    if (e == WatchEvent::kStop) break;
    if (e != WatchEvent::kChange) continue;
    do {
      e = watcher.wait(debounce_ms);
    } while (e == WatchEvent::kChange);
    if (e == WatchEvent::kStop) break;
    err << "change detected: redeploying\n";
    deploy();
  }
  err << "stopped\n";
  return 0;
}

}  // namespace stopgap::cli
