// Files written all or nothing (core/temporary_files.h): the temporary file is renamed into
// place or removed, and a process stopped by a signal removes the ones it had open.
#include "core/temporary_files.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "kiln/error.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("kiln-tmpfiles-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TemporaryFiles, WriteReplacesTheFileAndLeavesNoTemporary) {
  TempDir dir;
  const std::string file = (dir.path / "out.bin").string();
  write_file_atomically(file, "first", 5, "test file");
  write_file_atomically(file, "second!", 7, "test file");
  EXPECT_EQ(read_all(file), "second!");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.bin"});
}

TEST(TemporaryFiles, FailedWriteLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  fs::create_directories(dir.path / "target.bin");  // a directory: the rename must fail
  try {
    write_file_atomically((dir.path / "target.bin").string(), "x", 1, "test file");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIO);
    EXPECT_NE(std::string(e.what()).find("test file"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("target.bin"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"target.bin"});
  EXPECT_THROW(write_file_atomically((dir.path / "missing" / "f").string(), "x", 1, "test file"),
               Error);
}

TEST(TemporaryFiles, UnreleasedPathsAreRemovedReleasedOnesKept) {
  TempDir dir;
  {
    TemporaryPath kept((dir.path / "kept").string());
    std::ofstream(kept.path()) << "k";
    kept.release();
    TemporaryPath dropped((dir.path / "dropped").string());
    std::ofstream(dropped.path()) << "d";
    TemporaryPath staging((dir.path / "staging").string());
    fs::create_directory(staging.path());
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"kept"});
}

TEST(TemporaryFiles, SignalRemovesRegisteredPathsThenKillsTheProcess) {
  TempDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    remove_temporary_paths_on_signals();
    // Leaked on purpose: the signal arrives while they are live.
    auto* staging = new TemporaryPath((dir.path / "staging").string());
    fs::create_directory(staging->path());
    auto* file = new TemporaryPath((dir.path / "staging" / "half.npy").string());
    std::ofstream(file->path()) << "partial";
    std::ofstream(dir.path / "unrelated") << "stays";
    ::raise(SIGTERM);
    ::_exit(0);  // not reached: the handler re-raises with the default action
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"unrelated"});
}

}  // namespace
}  // namespace kiln
