#include "core/temporary_files.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace kiln {

namespace {

// The registered paths, as C strings the signal handler can use without allocating. A fixed
// table: a path that finds no free slot is still removed by its destructor, only not on a
// signal.
constexpr int kSlots = 256;
std::atomic<char*> g_paths[kSlots];

int register_path(const std::string& path) {
  char* copy = ::strdup(path.c_str());
  if (!copy) return -1;
  for (int i = 0; i < kSlots; ++i) {
    char* expected = nullptr;
    if (g_paths[i].compare_exchange_strong(expected, copy)) return i;
  }
  std::free(copy);
  return -1;
}

void unregister_path(int slot) {
  if (slot < 0) return;
  std::free(g_paths[slot].exchange(nullptr));
}

void remove_path(const char* path) {
  if (::unlink(path) != 0 && (errno == EISDIR || errno == EPERM)) ::rmdir(path);
}

void on_signal(int sig) {
  remove_temporary_paths();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

TemporaryPath::TemporaryPath(std::string path)
    : path_(std::move(path)), slot_(register_path(path_)) {}

TemporaryPath::~TemporaryPath() {
  if (!path_.empty()) remove_path(path_.c_str());
  unregister_path(slot_);
}

void TemporaryPath::release() {
  unregister_path(slot_);
  slot_ = -1;
  path_.clear();
}

std::string temporary_name_for(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return cat(path, ".kiln-tmp-", ::getpid(), "-", counter++);
}

void write_file_atomically(const std::string& path, const void* data, size_t size,
                           std::string_view what) {
  TemporaryPath temp(temporary_name_for(path));
  auto io_error = [&](const std::string& action, int err) {
    fail(ErrorCode::kIO, "cannot write ", what, " '", path, "': ", action, ": ",
         std::strerror(err));
  };
  const int fd = ::open(temp.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) io_error(cat("creating '", temp.path(), "'"), errno);
  const auto* bytes = static_cast<const unsigned char*>(data);
  size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, bytes + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      io_error("writing", err);
    }
    written += size_t(n);
  }
  // fsync before the rename, so that after a crash the path holds either the old file or the
  // complete new one.
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    io_error("syncing", err);
  }
  if (::close(fd) != 0) io_error("closing", errno);
  if (::rename(temp.path().c_str(), path.c_str()) != 0)
    io_error("renaming the temporary file", errno);
  temp.release();
}

void remove_temporary_paths() noexcept {
  // Files first: a registered directory can be removed only once the files in it are gone.
  for (auto& slot : g_paths) {
    if (const char* path = slot.load()) ::unlink(path);
  }
  for (auto& slot : g_paths) {
    if (const char* path = slot.load()) ::rmdir(path);
  }
}

void remove_temporary_paths_on_signals() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &action, nullptr);
}

}  // namespace kiln
