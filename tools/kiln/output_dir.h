// `kiln run --output-dir DIR`: every output as DIR/NAME.npy, all or nothing.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/temporary_files.h"
#include "kiln/types.h"

namespace kiln::cli {

// A file name for output `name`: characters other than letters, digits, '.', '_' and '-'
// become '_'; a name longer than 200 bytes keeps its first 180 and gains a hash of the whole,
// so that every name fits NAME_MAX; a name already in `used` gets a "_2", "_3", ... suffix.
std::string output_file_name(const std::string& name, std::set<std::string>& used);

// Collects a run's .npy files in a staging directory and moves them into DIR only once all are
// written. Where DIR does not exist yet (or is empty), the staging directory is renamed to DIR:
// a reader sees no directory or the complete set. Where DIR holds files already, the staged
// files are renamed into it one by one with SIGINT/SIGTERM/SIGHUP held back, so a stop between
// two outputs cannot leave a new a.npy beside an old b.npy. On an error or a signal before
// commit(), the staged files and the staging directory are removed and DIR is untouched.
class OutputDirectory {
 public:
  explicit OutputDirectory(const std::string& dir);
  ~OutputDirectory();
  OutputDirectory(const OutputDirectory&) = delete;
  OutputDirectory& operator=(const OutputDirectory&) = delete;

  // Writes output `name` into the staging directory; returns the path it will have in DIR.
  std::string add(const std::string& name, DataType dtype, const Dims& dims, const void* data,
                  size_t nbytes);
  // Moves every staged file into DIR.
  void commit();

 private:
  struct Staged {
    std::string file;  // the file name, in the staging directory and in DIR
    std::unique_ptr<TemporaryPath> temp;
  };
  std::string dir_;
  bool dir_existed_ = false;
  std::unique_ptr<TemporaryPath> staging_;
  std::vector<Staged> staged_;
  std::set<std::string> used_names_;
};

}  // namespace kiln::cli
