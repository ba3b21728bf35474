// What `stopgap dev` waits on: changes under stopgap/ and a request to stop. Behind an interface so
// that the dev loop (dev.h) is tested with scripted events; InotifyWatcher is the real one.
#pragma once

#include <signal.h>

#include <map>
#include <stdexcept>
#include <string>

namespace stopgap::cli {

enum class WatchEvent {
  kChange,   // a module file (or a directory) under the tree was written, created, moved or removed
  kTimeout,  // nothing happened within the timeout
  kStop,     // SIGINT or SIGTERM arrived
};

struct Watcher {
  virtual ~Watcher() = default;
  // Waits for the next event; timeout_ms < 0 waits without a timeout.
  virtual WatchEvent wait(int timeout_ms) = 0;
};

struct WatchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Watches a directory tree with inotify: every directory under it, and new ones as they appear
// (node_modules/, dot-directories and the top-level _generated/ left out, as deploy leaves them
// out). Reports changes of module files (*.ts, *.mts, *.js, *.mjs) and of directories; an editor's
// swap and backup files do not count. While it exists, SIGINT and SIGTERM are blocked and read
// through a signalfd, so they end a wait with kStop (and never interrupt a deploy half-way); the
// destructor restores the signal mask. Throws WatchError when inotify cannot be set up.
class InotifyWatcher : public Watcher {
 public:
  explicit InotifyWatcher(const std::string& root);
  ~InotifyWatcher() override;
  InotifyWatcher(const InotifyWatcher&) = delete;
  InotifyWatcher& operator=(const InotifyWatcher&) = delete;
  WatchEvent wait(int timeout_ms) override;

 private:
  void add_tree(const std::string& dir, bool top);
  bool drain();  // reads pending inotify events; true when one counts as a change
  void cleanup();

  std::string root_;
  int inotify_fd_ = -1;
  int signal_fd_ = -1;
  std::map<int, std::string> dirs_;  // watch descriptor -> directory
  bool mask_saved_ = false;
  sigset_t old_mask_{};
};

}  // namespace stopgap::cli
