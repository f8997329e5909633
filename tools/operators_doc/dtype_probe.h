// Which element types each kiln op runs, found by trying them: for every op, a small node is
// built per candidate dtype from a probe recipe (input shapes and values, attributes), and
//  - the CPU reference backend runs it when the op's inference accepts the node and its
//    reference compute then runs on the recipe's input values without an error;
//  - a CUDA kernel (tactic) runs it when, in addition, the kernel's `supports` accepts the node
//    at the recipe's shapes.
// Only the probed dtype changes between the nodes of one recipe, so a dtype that fails where
// another passes is a dtype the op (or kernel) refuses. A recipe no dtype passes proves
// nothing: that op's types are printed as undecided ("see ONNX spec").
//
// Used by kiln_operators_doc (docs/operators.md) and its unit test (tests/docs).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/attribute.h"
#include "kiln/types.h"
#include "ops/op.h"

namespace kiln::opsdoc {

// One bit per DataType (bit i for DataType(i)).
using DtypeSet = uint32_t;
inline constexpr int kNumDataTypes = kDataTypeCount;
inline constexpr DtypeSet dtype_bit(DataType t) { return DtypeSet(1) << unsigned(t); }
inline constexpr DtypeSet kAllDtypes = (DtypeSet(1) << kNumDataTypes) - 1;

// "f32 f64 f16 bf16 i8..u64 bool fp8 f8e4m3fnuz ... i4 u4 i2 u2": floats one by one, complete
// integer groups as ranges, both float8 (e4m3fn, e5m2) types as fp8, then the narrow storage
// types one by one; "all" for every type, "—" for none.
std::string format_dtypes(DtypeSet set);

// One input of a probe node.
struct ProbeInput {
  enum class Kind {
    kProbed,   // has the dtype being probed
    kFixed,    // has `dtype` whatever is probed (indices, shapes, axes, a condition)
    kOmitted,  // an optional input left out (to reach a later one)
  };
  Kind kind = Kind::kProbed;
  DataType dtype = DataType::kFloat32;
  Dims shape;
  // The contents, converted to the input's dtype; empty: all ones. A recipe gives values for
  // operands the op reads at shape time (shapes, axes, sizes); the CUDA probe shows them to the
  // kernels as host values, as the builder does for constants.
  std::vector<double> values;
};

// How to build the probe node of one op for one dtype "axis". Most ops have one axis: the type
// of their data inputs. Ops whose inputs or outputs have independent types (Cast's input and
// `to`, Gather's data and indices) have one recipe per axis, with a label naming it.
struct ProbeRecipe {
  std::string label;  // "" for the op's single axis
  std::vector<ProbeInput> inputs;
  ir::Attributes attrs;
  int outputs = 1;
  // Attribute that holds the probed dtype (an int64 kiln::DataType, as Cast's `to`), if any.
  std::string dtype_attr;
  // Adds attributes that depend on the probed dtype: ConstantOfShape's value, the bodies of
  // If, Loop and Scan.
  std::function<void(ir::Attributes&, DataType)> typed_attrs;
};

// The recipes for an op: its entry in the override table (probe_recipes.cpp), else the generic
// default: min_inputs probed inputs of shape 1x2x2x2 and min_outputs outputs.
std::vector<ProbeRecipe> recipes_for(const ops::OpDef& def);

// Results of one recipe.
struct AxisResult {
  std::string label;
  DtypeSet cpu = 0;
  // Every dtype whose inference accepted the node (cpu is the subset whose compute also ran).
  DtypeSet inferred = 0;
  // Per CUDA kernel name, in registration order: the dtypes whose node the kernel supports.
  std::vector<std::pair<std::string, DtypeSet>> cuda;
  // First error message per dtype that failed (for --explain).
  std::map<DataType, std::string> errors;
};

struct OpProbe {
  std::vector<AxisResult> axes;
  // Every CUDA kernel registered for the op (its names, in registration order), probed or not.
  std::vector<std::string> cuda_kernels;
};

OpProbe probe_op(const ops::OpDef& def);

// Probes one dtype of one recipe on the CPU only: whether inference and compute succeed.
// `error` (optional) receives the failure's message.
bool probe_cpu(const ops::OpDef& def, const ProbeRecipe& recipe, DataType dtype,
               std::string* error = nullptr);

}  // namespace kiln::opsdoc
