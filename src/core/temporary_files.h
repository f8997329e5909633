// Files written all or nothing, and the temporary paths that make that possible.
//
// Every file kiln writes (plans, timing caches, the CLI's .npy outputs) is written to a
// temporary path beside its destination, synced, and renamed over it, so a reader sees the old
// file or the whole new one. While a temporary path exists it is registered here, so that a
// process stopped by SIGINT, SIGTERM or SIGHUP (the CLI installs the handlers) removes it
// instead of leaving a partial file of up to the plan's size behind.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln {

// A path that exists only until the work using it is committed or abandoned: registered for
// removal on a signal while it lives, removed by the destructor (a file, or an empty
// directory) unless release() was called after it was renamed into place.
class TemporaryPath {
 public:
  explicit TemporaryPath(std::string path);
  ~TemporaryPath();
  TemporaryPath(const TemporaryPath&) = delete;
  TemporaryPath& operator=(const TemporaryPath&) = delete;

  const std::string& path() const { return path_; }
  // The path was renamed into place (or never created): nothing to remove any more.
  void release();

 private:
  std::string path_;
  int slot_ = -1;  // index in the signal handler's table, -1 when not registered
};

// A fresh name beside `path` for a temporary file or directory: path + ".kiln-tmp-PID-N".
std::string temporary_name_for(const std::string& path);

// Writes `size` bytes to `path` through a temporary file renamed into place (fsync'd first).
// Throws kiln::Error (kIO) naming `what` ("plan file", "timing cache", ...) and the path; the
// destination is then untouched and no temporary file remains.
void write_file_atomically(const std::string& path, const void* data, size_t size,
                           std::string_view what);

// Removes every registered temporary path (files first, then directories). Async-signal-safe:
// only unlink and rmdir on strings prepared beforehand.
void remove_temporary_paths() noexcept;

// For programs (the CLI): on SIGINT, SIGTERM and SIGHUP, remove the registered temporary paths,
// then die of the same signal as the default action would.
void remove_temporary_paths_on_signals();

}  // namespace kiln
