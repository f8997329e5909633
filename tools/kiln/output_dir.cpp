#include "output_dir.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "npy.h"

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxBaseBytes = 200;  // + ".npy" and a suffix stays well under NAME_MAX (255)
constexpr size_t kKeptPrefixBytes = 180;

uint64_t fnv1a(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

bool is_empty_directory(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec) && !ec;
}

// Holds SIGINT, SIGTERM and SIGHUP back for its lifetime; they are delivered when it ends.
class SignalsHeld {
 public:
  SignalsHeld() {
    sigset_t held;
    sigemptyset(&held);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&held, sig);
    pthread_sigmask(SIG_BLOCK, &held, &previous_);
  }
  ~SignalsHeld() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

 private:
  sigset_t previous_;
};

}  // namespace

std::string output_file_name(const std::string& name, std::set<std::string>& used) {
  std::string base = name.empty() ? "_" : name;
  for (char& c : base) {
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    if (!safe) c = '_';
  }
  if (base.size() > kMaxBaseBytes) {
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(name)));
    base = base.substr(0, kKeptPrefixBytes) + "-" + hash;
  }
  std::string file = base + ".npy";
  for (int suffix = 2; !used.insert(file).second; ++suffix) {
    file = base + "_" + std::to_string(suffix) + ".npy";
  }
  return file;
}

OutputDirectory::OutputDirectory(const std::string& dir) : dir_(dir) {
  KILN_CHECK(!dir.empty(), ErrorCode::kInvalidArgument, "--output-dir: empty directory name");
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (fs::exists(status)) {
    KILN_CHECK(fs::is_directory(status), ErrorCode::kIO, "--output-dir: '", dir,
               "' exists and is not a directory");
    dir_existed_ = !is_empty_directory(dir);
  } else {
    const fs::path parent = fs::absolute(dir, ec).parent_path();
    fs::create_directories(parent, ec);
    KILN_CHECK(!ec, ErrorCode::kIO, "--output-dir: cannot create '", parent.string(),
               "': ", ec.message());
  }
  // Staged inside DIR when it has files (a rename into it is then within one file system),
  // else beside it, to be renamed to DIR as a whole.
  const std::string staging =
      dir_existed_ ? (fs::path(dir) / fs::path(temporary_name_for(".outputs")).filename()).string()
                   : temporary_name_for(fs::path(dir).lexically_normal().string());
  staging_ = std::make_unique<TemporaryPath>(staging);
  if (::mkdir(staging.c_str(), 0755) != 0) {
    const int err = errno;
    staging_->release();
    fail(ErrorCode::kIO, "--output-dir: cannot create '", staging, "': ", std::strerror(err));
  }
}

OutputDirectory::~OutputDirectory() = default;  // unreleased temporary paths remove themselves

std::string OutputDirectory::add(const std::string& name, DataType dtype, const Dims& dims,
                                 const void* data, size_t nbytes) {
  std::string file = output_file_name(name, used_names_);
  auto temp = std::make_unique<TemporaryPath>((fs::path(staging_->path()) / file).string());
  write_npy(temp->path(), dtype, dims, data, nbytes);
  staged_.push_back({file, std::move(temp)});
  return (fs::path(dir_) / file).string();
}

void OutputDirectory::commit() {
  SignalsHeld held;
  auto io_error = [](const std::string& from, const std::string& to) {
    fail(ErrorCode::kIO, "--output-dir: cannot move '", from, "' to '", to,
         "': ", std::strerror(errno));
  };
  if (!dir_existed_ && (!fs::exists(dir_) || is_empty_directory(dir_))) {
    if (::rename(staging_->path().c_str(), dir_.c_str()) != 0) io_error(staging_->path(), dir_);
    for (Staged& s : staged_) s.temp->release();
    staging_->release();
    return;
  }
  // Refuse before moving anything where a destination cannot be replaced by a file.
  for (const Staged& s : staged_) {
    std::error_code ec;
    const fs::path to = fs::path(dir_) / s.file;
    KILN_CHECK(!fs::is_directory(fs::symlink_status(to, ec)), ErrorCode::kIO,
               "--output-dir: cannot write '", to.string(),
               "': a directory has that name; no output was written");
  }
  for (Staged& s : staged_) {
    const std::string to = (fs::path(dir_) / s.file).string();
    if (::rename(s.temp->path().c_str(), to.c_str()) != 0) io_error(s.temp->path(), to);
    s.temp->release();
  }
  // staging_ (now empty) is removed by its destructor.
}

}  // namespace kiln::cli
