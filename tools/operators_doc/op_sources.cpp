#include "op_sources.h"

#include <algorithm>

#include "backends/cpu/cpu_kernel.h"
#include "onnx/op_importer.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_kernel.h"
#endif

namespace kiln::opsdoc {
namespace {

void add_once(std::vector<std::string>& files, const std::string& file) {
  if (std::find(files.begin(), files.end(), file) == files.end()) files.push_back(file);
}

// "convolution" for "src/ops/convolution.cpp".
std::string family_of(const std::string& file) {
  return std::filesystem::path(file).stem().string();
}

void add_if_exists(std::vector<std::string>& tests, const std::filesystem::path& source_dir,
                   const std::string& file) {
  if (std::filesystem::exists(source_dir / file)) add_once(tests, file);
}

}  // namespace

OpSources op_sources(const ops::OpDef& def, const std::filesystem::path& source_dir) {
  OpSources s;
  s.definition = def.defined_in;
  for (const auto* importer : onnx_import::ImporterRegistry::instance().for_op(def.name)) {
    if (importer->defined_in == kPassThroughImporters) {
      s.imported_as_is = true;
    } else {
      add_once(s.importers, importer->defined_in);
    }
  }
  for (const cpu::CpuKernel& k : cpu::CpuKernelRegistry::instance().kernels()) {
    if (k.op == def.name) add_once(s.cpu_kernels, k.defined_in);
  }
#ifdef KILN_HAVE_CUDA
  for (const cuda::CudaKernel& k : cuda::CudaKernelRegistry::instance().kernels()) {
    if (k.op == def.name) add_once(s.cuda_kernels, k.defined_in);
  }
#endif
  // Registration order follows the link order of the files; sorted, the doc is the same
  // wherever it is generated.
  std::sort(s.importers.begin(), s.importers.end());
  std::sort(s.cpu_kernels.begin(), s.cpu_kernels.end());
  std::sort(s.cuda_kernels.begin(), s.cuda_kernels.end());

  const std::string family = family_of(s.definition);
  add_if_exists(s.tests, source_dir, "tests/ops/" + family + "_test.cpp");
  add_if_exists(s.tests, source_dir, "tests/gpu/gpu_" + family + "_test.cpp");
  for (const std::string& file : s.cuda_kernels) {
    add_if_exists(s.tests, source_dir, "tests/gpu/gpu_" + family_of(file) + "_test.cpp");
  }
  return s;
}

}  // namespace kiln::opsdoc
