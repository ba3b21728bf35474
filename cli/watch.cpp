#include "cli/watch.h"

#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "cli/fs.h"
#include "cli/project.h"

namespace stopgap::cli {
namespace {

constexpr std::uint32_t kDirMask = IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE |
                                   IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_ONLYDIR;

bool skipped_dir(const std::string& name, bool top) {
  return name.empty() || name[0] == '.' || name == "node_modules" || (top && name == "_generated");
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

InotifyWatcher::InotifyWatcher(const std::string& root) : root_(root) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &stop, &old_mask_) != 0)
    throw WatchError("cannot block SIGINT/SIGTERM: " + errno_text());
  mask_saved_ = true;
  signal_fd_ = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
  inotify_fd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (signal_fd_ < 0 || inotify_fd_ < 0) {
    std::string why = errno_text();
    cleanup();
    throw WatchError("cannot watch " + root + ": " + why);
  }
  try {
    add_tree(root, true);
  } catch (...) {
    cleanup();
    throw;
  }
}

InotifyWatcher::~InotifyWatcher() { cleanup(); }

void InotifyWatcher::cleanup() {
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (signal_fd_ >= 0) close(signal_fd_);
  inotify_fd_ = signal_fd_ = -1;
  if (mask_saved_) {
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    mask_saved_ = false;
  }
}

void InotifyWatcher::add_tree(const std::string& dir, bool top) {
  int wd = inotify_add_watch(inotify_fd_, dir.c_str(), kDirMask);
  if (wd < 0) {
    if ((errno == ENOENT || errno == ENOTDIR) && dir != root_) return;  // gone again already
    if (errno == ENOSPC)
      throw WatchError("cannot watch " + dir +
                       ": the inotify watch limit is reached (raise fs.inotify.max_user_watches)");
    throw WatchError("cannot watch " + dir + ": " + errno_text());
  }
  dirs_[wd] = dir;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (!it->is_directory(ec2) || it->is_symlink(ec2)) continue;
    const std::string name = it->path().filename().string();
    if (skipped_dir(name, top)) continue;
    add_tree(path_join(dir, name), false);
  }
}

bool InotifyWatcher::drain() {
  bool changed = false;
  alignas(inotify_event) char buf[16 * 1024];
  for (;;) {
    ssize_t n = read(inotify_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return changed;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {  // events were lost: watch everything again
        add_tree(root_, true);
        changed = true;
        continue;
      }
      auto it = dirs_.find(ev->wd);
      if (ev->mask & IN_IGNORED) {
        if (it != dirs_.end()) dirs_.erase(it);
        continue;
      }
      if (it == dirs_.end()) continue;
      const std::string name = ev->len ? std::string(ev->name) : "";
      const bool top = it->second == root_;
      if (ev->mask & IN_ISDIR) {
        if (skipped_dir(name, top)) continue;
        if (ev->mask & (IN_CREATE | IN_MOVED_TO)) add_tree(path_join(it->second, name), false);
        changed = true;
      } else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        changed = true;
      } else if (!name.empty() && name[0] != '.' && is_module_file(name)) {
        changed = true;
      }
    }
  }
}

WatchEvent InotifyWatcher::wait(int timeout_ms) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    int left = -1;
    if (timeout_ms >= 0) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
      left = ms < 0 ? 0 : static_cast<int>(ms);
    }
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    int r = poll(fds, 2, left);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw WatchError("poll: " + errno_text());
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      while (read(signal_fd_, &info, sizeof info) > 0) {
      }
      return WatchEvent::kStop;
    }
    if ((fds[1].revents & POLLIN) && drain()) return WatchEvent::kChange;
    if (r == 0 || (timeout_ms >= 0 && clock::now() >= deadline)) return WatchEvent::kTimeout;
  }
}

}  // namespace stopgap::cli
