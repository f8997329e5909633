// The dtype probe behind docs/operators.md (tools/operators_doc/dtype_probe.h) and the
// restriction table it prints (src/ops/op_restrictions.h). Expected type sets come from the ONNX
// spec of each op (onnx/docs/Operators.md), not from kiln's code.
#include "dtype_probe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "onnx/op_importer.h"
#include "ops/op.h"
#include "ops/op_restrictions.h"

namespace kiln::opsdoc {
namespace {

using T = DataType;

DtypeSet set_of(std::initializer_list<DataType> types) {
  DtypeSet s = 0;
  for (DataType t : types) s |= dtype_bit(t);
  return s;
}

const ops::OpDef& op(const char* name) {
  const ops::OpDef* def = ops::OpRegistry::instance().find(name);
  if (!def) throw std::runtime_error(std::string("no op ") + name);
  return *def;
}

// The CPU types of one axis ("" for single-axis ops) of an op.
DtypeSet cpu_types(const char* name, const std::string& label = "") {
  for (const AxisResult& a : probe_op(op(name)).axes) {
    if (a.label == label) return a.cpu;
  }
  ADD_FAILURE() << name << " has no probe axis '" << label << "'";
  return 0;
}

const DtypeSet kFloats = set_of({T::kFloat32, T::kFloat64, T::kFloat16, T::kBFloat16});
const DtypeSet kSignedInts = set_of({T::kInt8, T::kInt16, T::kInt32, T::kInt64});
const DtypeSet kUnsignedInts = set_of({T::kUInt8, T::kUInt16, T::kUInt32, T::kUInt64});

TEST(DtypeFormat, AbbreviatesGroups) {
  EXPECT_EQ(format_dtypes(0), "—");
  EXPECT_EQ(format_dtypes(kAllDtypes), "all");
  EXPECT_EQ(format_dtypes(set_of({T::kFloat16, T::kFloat32})), "f32 f16");
  EXPECT_EQ(format_dtypes(kFloats | kSignedInts | kUnsignedInts), "f32 f64 f16 bf16 i8..u64");
  EXPECT_EQ(format_dtypes(kSignedInts | dtype_bit(T::kBool)), "i8..i64 bool");
  EXPECT_EQ(format_dtypes(kUnsignedInts | dtype_bit(T::kInt32)), "i32 u8..u64");
  EXPECT_EQ(format_dtypes(set_of({T::kInt64, T::kUInt8, T::kFloat8E4M3, T::kFloat8E5M2})),
            "i64 u8 fp8");
  EXPECT_EQ(format_dtypes(dtype_bit(T::kFloat8E5M2)), "f8e5m2");
}

// Add-14: every numeric type, no bool (ONNX: tensor(uint8) ... tensor(bfloat16)).
TEST(DtypeProbe, AddRunsNumericTypesOnly) {
  const DtypeSet add = cpu_types("Add");
  EXPECT_EQ(add & (kFloats | kSignedInts | kUnsignedInts), kFloats | kSignedInts | kUnsignedInts);
  EXPECT_FALSE(add & dtype_bit(T::kBool));
}

// Relu-14: floats and the signed integers, not the unsigned ones.
TEST(DtypeProbe, ReluRunsSignedIntegers) {
  const DtypeSet relu = cpu_types("Relu");
  EXPECT_EQ(relu & kSignedInts, kSignedInts);
  EXPECT_EQ(relu & kUnsignedInts, 0u);
  EXPECT_TRUE(relu & dtype_bit(T::kFloat32));
}

// NonZero's output extents depend on the data: the probe must run its data-dependent compute.
TEST(DtypeProbe, NonZeroRunsEveryTypeThroughItsDataDependentOutput) {
  const DtypeSet nonzero = cpu_types("NonZero");
  EXPECT_TRUE(nonzero & dtype_bit(T::kFloat32));
  EXPECT_TRUE(nonzero & dtype_bit(T::kBool));
  EXPECT_TRUE(nonzero & dtype_bit(T::kInt64));
}

// Gather-13: data of any type, indices int32 or int64 only.
TEST(DtypeProbe, GatherProbesDataAndIndicesSeparately) {
  EXPECT_EQ(cpu_types("Gather", "indices"), set_of({T::kInt32, T::kInt64}));
  EXPECT_EQ(cpu_types("Gather", "data") & (kFloats | dtype_bit(T::kBool)),
            kFloats | dtype_bit(T::kBool));
}

// Cast's output type is an attribute: the "to" axis probes it.
TEST(DtypeProbe, CastProbesItsToAttribute) {
  const DtypeSet to = cpu_types("Cast", "to");
  EXPECT_TRUE(to & dtype_bit(T::kFloat8E4M3));
  EXPECT_TRUE(to & dtype_bit(T::kBool));
  EXPECT_TRUE(to & dtype_bit(T::kFloat16));
}

// Loop's body is built per probed type: the carried value may have any type.
TEST(DtypeProbe, LoopProbesThroughItsBody) {
  const DtypeSet loop = cpu_types("Loop");
  EXPECT_TRUE(loop & dtype_bit(T::kFloat32));
  EXPECT_TRUE(loop & dtype_bit(T::kInt8));
}

// A recipe the op cannot accept (Concat without its required axis) decides nothing: no type
// passes, and the error names what is wrong.
TEST(DtypeProbe, ARecipeWithoutARequiredAttributePassesNoType) {
  ProbeRecipe broken;
  broken.inputs = {ProbeInput{ProbeInput::Kind::kProbed, T::kFloat32, {2, 2}, {}},
                   ProbeInput{ProbeInput::Kind::kProbed, T::kFloat32, {2, 2}, {}}};
  std::string error;
  EXPECT_FALSE(probe_cpu(op("Concat"), broken, T::kFloat32, &error));
  EXPECT_NE(error.find("axis"), std::string::npos) << error;
}

// Every recipe builds a node its op accepts for some type (else the doc would print "see ONNX
// spec"), and where inference accepts a type the CPU compute runs it too.
TEST(DtypeProbe, EveryRecipeDecidesAndInferenceAgreesWithCompute) {
  for (const ops::OpDef* def : ops::OpRegistry::instance().all()) {
    for (const AxisResult& a : probe_op(*def).axes) {
      EXPECT_NE(a.cpu, 0u) << def->name << " [" << a.label << "]: no type passes; give the op "
                           << "a recipe in tools/operators_doc/probe_recipes.cpp";
      EXPECT_EQ(a.inferred, a.cpu)
          << def->name << " [" << a.label << "]: inference accepts "
          << format_dtypes(a.inferred & ~a.cpu) << " but the compute fails";
      for (const auto& [kernel, types] : a.cuda) {
        EXPECT_EQ(types & ~a.inferred, 0u) << def->name << " " << kernel;
      }
    }
  }
}

#ifdef KILN_HAVE_CUDA
TEST(DtypeProbe, CudaKernelsListTheTypesTheyAccept) {
  const OpProbe add = probe_op(op("Add"));
  ASSERT_EQ(add.axes.size(), 1u);
  bool found = false;
  for (const auto& [kernel, types] : add.axes[0].cuda) {
    if (kernel != "cuda_binary_broadcast") continue;
    found = true;
    EXPECT_TRUE(types & dtype_bit(T::kFloat32));
    EXPECT_TRUE(types & dtype_bit(T::kFloat16));
    EXPECT_FALSE(types & dtype_bit(T::kBool));  // Add has no bool
  }
  EXPECT_TRUE(found);
}
#endif

// ----- restrictions

// Each entry concerns a kiln op (kOp) or an ONNX op kiln imports (kImport).
TEST(OpRestrictions, NameRegisteredOps) {
  ASSERT_FALSE(ops::op_restrictions().empty());
  const auto onnx_ops = onnx_import::ImporterRegistry::instance().op_names();
  for (const ops::OpRestriction& r : ops::op_restrictions()) {
    if (r.scope == ops::OpRestriction::Scope::kOp) {
      EXPECT_NE(ops::OpRegistry::instance().find(r.op), nullptr) << r.op;
    } else {
      EXPECT_NE(std::find(onnx_ops.begin(), onnx_ops.end(), r.op), onnx_ops.end()) << r.op;
    }
  }
}

// The op restrictions the table states are enforced: a node that breaks one is refused, while
// the same node without it runs.
TEST(OpRestrictions, AreEnforcedByTheOps) {
  auto attrs_probe = [](const char* name, const ProbeRecipe& base, ir::Attributes extra,
                        DataType dtype, std::string* error) {
    ProbeRecipe r = base;
    for (auto& [k, v] : extra) r.attrs[k] = v;
    return probe_cpu(op(name), r, dtype, error);
  };
  std::string error;
  const ProbeRecipe batch_norm = recipes_for(op("BatchNormalization")).at(0);
  EXPECT_TRUE(attrs_probe("BatchNormalization", batch_norm, {}, T::kFloat32, &error)) << error;
  EXPECT_FALSE(attrs_probe("BatchNormalization", batch_norm, {{"training_mode", int64_t(1)}},
                           T::kFloat32, &error));
  EXPECT_NE(error.find("training_mode"), std::string::npos) << error;
  EXPECT_FALSE(ops::restrictions_of("BatchNormalization", ops::OpRestriction::Scope::kOp).empty());

  const ProbeRecipe resize = recipes_for(op("Resize")).at(0);
  EXPECT_TRUE(attrs_probe("Resize", resize, {}, T::kBool, &error)) << error;  // nearest
  EXPECT_FALSE(attrs_probe("Resize", resize, {{"mode", std::string("linear")}}, T::kBool, &error));
  EXPECT_TRUE(attrs_probe("Resize", resize, {{"mode", std::string("linear")}}, T::kFloat32, &error))
      << error;

  const ProbeRecipe grid_sample = recipes_for(op("GridSample")).at(0);
  EXPECT_FALSE(attrs_probe("GridSample", grid_sample, {}, T::kBool, &error));  // linear default
  EXPECT_TRUE(
      attrs_probe("GridSample", grid_sample, {{"mode", std::string("nearest")}}, T::kBool, &error))
      << error;
}

}  // namespace
}  // namespace kiln::opsdoc
