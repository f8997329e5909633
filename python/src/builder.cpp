// Builder, BuilderConfig, OptimizationProfile and OnnxParser: TensorRT's build-time objects.
// Long calls (parse, build) release the GIL; kiln.Logger takes it back to call Python.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <filesystem>

#include "bindings.h"
#include "common.h"

namespace kiln::python {
namespace {

constexpr BuilderFlag kAllFlags[] = {BuilderFlag::kFP16, BuilderFlag::kBF16, BuilderFlag::kTF32,
                                     BuilderFlag::kINT8, BuilderFlag::kFP8};

nb::list profile_shape_list(const OptimizationProfile& profile, const std::string& input) {
  nb::list shapes;
  for (OptProfileSelector which :
       {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
    shapes.append(dims_to_tuple(profile.get_dimensions(input, which)));
  }
  return shapes;
}

// min <= opt <= max in every dim, with equal ranks: checked here so that the error names the
// input at the call that set it.
void check_profile_range(const std::string& input, const Dims& min, const Dims& opt,
                         const Dims& max) {
  if (min.size() != opt.size() || opt.size() != max.size()) {
    invalid_argument("optimization profile for '" + input + "': min " + to_string(min) + ", opt " +
                     to_string(opt) + " and max " + to_string(max) + " must have the same rank");
  }
  for (size_t i = 0; i < min.size(); ++i) {
    if (!(min[i] <= opt[i] && opt[i] <= max[i])) {
      invalid_argument("optimization profile for '" + input + "': dim " + std::to_string(i) +
                       " needs min <= opt <= max, got min " + to_string(min) + ", opt " +
                       to_string(opt) + ", max " + to_string(max));
    }
  }
}

// The ONNX parser replaces the network's graph, which would leave any ITensor/ILayer handle
// Python already holds dangling; TensorRT's parser also expects a fresh network.
void require_empty(const NetworkDefinition& network) {
  if (network.num_inputs() || network.num_outputs() || network.num_layers()) {
    invalid_argument("OnnxParser: the network already holds a model (" +
                     std::to_string(network.num_layers()) +
                     " layers); parse into a fresh network from builder.create_network()");
  }
}

bool parse_model(OnnxParser& parser, NetworkDefinition& network, nb::handle model,
                 nb::handle path) {
  require_empty(network);
  // An onnx.ModelProto is accepted as well as its serialized bytes.
  nb::object data = nb::borrow(model);
  if (nb::hasattr(model, "SerializeToString")) data = model.attr("SerializeToString")();
  std::string base_dir = ".";
  if (!path.is_none()) {
    const std::filesystem::path p = nb::cast<std::filesystem::path>(path);
    base_dir = std::filesystem::is_directory(p) ? p.string() : p.parent_path().string();
    if (base_dir.empty()) base_dir = ".";
  }
  BufferView bytes(data, "OnnxParser.parse");
  nb::gil_scoped_release release;
  parser.parse(bytes.data(), bytes.size(), base_dir);
  return true;
}

}  // namespace

void bind_builder(nb::module_& m) {
  nb::class_<OptimizationProfile>(
      m, "OptimizationProfile",
      "Ranges of input shapes an engine accepts: per dynamic input min <= opt <= max. Kernels "
      "are chosen for opt, memory is planned for max.")
      .def(nb::init<>())
      .def(
          "set_shape",
          [](OptimizationProfile& p, const std::string& input, nb::handle min, nb::handle opt,
             nb::handle max) {
            const Dims lo = dims_from_object(min, "min"), mid = dims_from_object(opt, "opt"),
                       hi = dims_from_object(max, "max");
            check_profile_range(input, lo, mid, hi);
            p.set_dimensions(input, OptProfileSelector::kMIN, lo);
            p.set_dimensions(input, OptProfileSelector::kOPT, mid);
            p.set_dimensions(input, OptProfileSelector::kMAX, hi);
          },
          nb::arg("input"), nb::arg("min"), nb::arg("opt"), nb::arg("max"),
          "Sets the min, opt and max shapes of a dynamic input (as TensorRT).")
      .def("get_shape", &profile_shape_list, nb::arg("input"), "[min, opt, max] of an input.")
      .def(
          "set_dimensions",
          [](OptimizationProfile& p, const std::string& input, OptProfileSelector which,
             nb::handle dims) { p.set_dimensions(input, which, dims_from_object(dims, "dims")); },
          nb::arg("input"), nb::arg("selector"), nb::arg("dims"),
          "Sets one of min/opt/max; the first one set for an input fills all three.")
      .def(
          "get_dimensions",
          [](const OptimizationProfile& p, const std::string& input, OptProfileSelector which) {
            return dims_to_tuple(p.get_dimensions(input, which));
          },
          nb::arg("input"), nb::arg("selector"))
      .def("has", &OptimizationProfile::has, nb::arg("input"))
      .def_prop_ro("inputs", &OptimizationProfile::inputs)
      .def("__repr__", [](const OptimizationProfile& p) {
        std::string text = "<kiln.OptimizationProfile";
        for (const std::string& input : p.inputs()) {
          text += " " + input + ": min " +
                  to_string(p.get_dimensions(input, OptProfileSelector::kMIN)) + " opt " +
                  to_string(p.get_dimensions(input, OptProfileSelector::kOPT)) + " max " +
                  to_string(p.get_dimensions(input, OptProfileSelector::kMAX)) + ";";
        }
        return text + ">";
      });

  nb::class_<TimingCache>(
      m, "TimingCache",
      "What GPU builds learned by timing kernels, keyed by layer signature "
      "and GPU/library/kiln versions (TensorRT's ITimingCache). Create one with "
      "BuilderConfig.create_timing_cache and attach it with set_timing_cache.")
      .def(
          "serialize",
          [](const TimingCache& c) {
            const std::vector<uint8_t> bytes = c.serialize();
            return nb::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          },
          "The cache as bytes, for BuilderConfig.create_timing_cache (same kiln version only).")
      .def(
          "combine",
          [](TimingCache& c, const TimingCache& other, bool ignore_mismatch) {
            c.combine(other);
            return true;
          },
          nb::arg("input_cache"), nb::arg("ignore_mismatch") = false,
          "Adds the entries of another cache that this one lacks. Keys carry the GPU and "
          "library versions, so caches of other devices combine without conflict "
          "(ignore_mismatch is accepted for TensorRT compatibility).")
      .def(
          "reset",
          [](TimingCache& c) {
            c.reset();
            return true;
          },
          "Removes every entry.")
      .def("__len__", &TimingCache::size);

  nb::class_<BuilderConfig>(m, "BuilderConfig",
                            "Build options: precision flags, target device, optimization "
                            "profiles.")
      .def(nb::init<>())
      .def("set_flag", &BuilderConfig::set_flag, nb::arg("flag"))
      .def("clear_flag", &BuilderConfig::clear_flag, nb::arg("flag"))
      .def("get_flag", &BuilderConfig::get_flag, nb::arg("flag"))
      .def_prop_rw(
          "flags", &BuilderConfig::flags,
          [](BuilderConfig& c, uint32_t bits) {
            for (BuilderFlag flag : kAllFlags) {
              if ((bits >> uint32_t(flag)) & 1u) {
                c.set_flag(flag);
              } else {
                c.clear_flag(flag);
              }
            }
          },
          "The flags as a bit mask: bit 1 << int(BuilderFlag.X).")
      .def(
          "set_tactic_sources",
          [](BuilderConfig& c, uint32_t sources) {
            if (sources & ~kAllTacticSources) {
              invalid_argument("set_tactic_sources: mask " + std::to_string(sources) +
                               " has bits that name no kiln.TacticSource (valid bits: " +
                               std::to_string(kAllTacticSources) + ")");
            }
            c.set_tactic_sources(sources);
            return true;
          },
          nb::arg("tactic_sources"),
          "Which libraries the GPU builder may use: a mask of 1 << int(kiln.TacticSource.X) "
          "(kiln.ALL_TACTIC_SOURCES by default). kiln's own kernels are always allowed.")
      .def("get_tactic_sources", &BuilderConfig::tactic_sources,
           "The tactic source mask (1 << int(kiln.TacticSource.X) bits).")
      .def("set_device", &BuilderConfig::set_device, nb::arg("device"))
      .def_prop_rw("default_device_type", &BuilderConfig::device, &BuilderConfig::set_device,
                   "The device the engine is built for (TensorRT's name).")
      .def_prop_rw("device", &BuilderConfig::device, &BuilderConfig::set_device)
      .def("add_optimization_profile", &BuilderConfig::add_optimization_profile, nb::arg("profile"),
           "Adds a copy of the profile; returns its index.")
      .def(
          "create_timing_cache",
          [](const BuilderConfig& c, nb::bytes serialized) {
            return c.create_timing_cache(serialized.c_str(), serialized.size());
          },
          nb::arg("serialized_timing_cache") = nb::bytes("", 0),
          "A new TimingCache: empty for b'', else parsed from TimingCache.serialize() bytes "
          "(kiln.KilnError for corrupt bytes or another kiln version's cache).")
      .def(
          "set_timing_cache",
          [](BuilderConfig& c, std::shared_ptr<TimingCache> cache, bool ignore_mismatch) {
            c.set_timing_cache(std::move(cache));
            return true;
          },
          nb::arg("cache").none(), nb::arg("ignore_mismatch") = false,
          "Attaches the cache: GPU builds take layers found there without timing them and add "
          "what they time to it. None detaches it.")
      .def("get_timing_cache", &BuilderConfig::get_timing_cache,
           "The attached TimingCache, or None.")
      .def("set_builder_optimization_level", &BuilderConfig::set_builder_optimization_level,
           nb::arg("level"))
      .def_prop_rw("builder_optimization_level", &BuilderConfig::builder_optimization_level,
                   &BuilderConfig::set_builder_optimization_level,
                   "0-5 (default 3). GPU builds at level 1 and up time candidate kernels and "
                   "cuBLASLt/cuDNN algorithms (autotuning); 0 times nothing.")
      .def_prop_ro("num_optimization_profiles",
                   [](const BuilderConfig& c) { return int(c.optimization_profiles().size()); })
      .def(
          "get_optimization_profile",
          [](const BuilderConfig& c, int index) {
            if (index < 0 || index >= int(c.optimization_profiles().size())) {
              throw nb::index_error(("no optimization profile " + std::to_string(index)).c_str());
            }
            return c.optimization_profiles()[size_t(index)];
          },
          nb::arg("index"));

  nb::class_<Builder>(m, "Builder", "Turns a NetworkDefinition into an optimized engine.")
      .def(
          "__init__", [](Builder* self, PyLogger& logger) { new (self) Builder(logger); },
          nb::arg("logger"), nb::keep_alive<1, 2>())
      .def(
          "create_network", [](const Builder& b, uint32_t flags) { return b.create_network(); },
          nb::arg("flags") = 0,
          "A new, empty network (flags are accepted for TensorRT compatibility and ignored: "
          "kiln networks are always explicit-batch).")
      .def("create_builder_config", &Builder::create_config)
      .def("create_config", &Builder::create_config)
      .def("create_optimization_profile", [](const Builder&) { return OptimizationProfile(); })
      .def(
          "build_serialized_network",
          [](const Builder& b, const NetworkDefinition& network, const BuilderConfig& config) {
            std::vector<uint8_t> plan;
            {
              nb::gil_scoped_release release;
              plan = b.build_serialized_network(network, config);
            }
            return nb::bytes(reinterpret_cast<const char*>(plan.data()), plan.size());
          },
          nb::arg("network"), nb::arg("config"),
          "Optimizes the network and returns the plan (a serialized engine) as bytes.")
      .def("build_engine", &Builder::build_engine, nb::arg("network"), nb::arg("config"),
           nb::call_guard<nb::gil_scoped_release>(),
           "Optimizes the network and returns a ready Engine (no serialization round trip).");

  nb::class_<PyOnnxParser>(m, "OnnxParser",
                           "Fills a NetworkDefinition from an ONNX model. Errors raise a "
                           "kiln.KilnError listing every problem (e.g. all unsupported nodes) "
                           "at once; parse() and parse_from_file() return True otherwise.")
      .def(
          "__init__",
          [](PyOnnxParser* self, NetworkDefinition& network, PyLogger& logger) {
            new (self) PyOnnxParser(network, logger);
          },
          nb::arg("network"), nb::arg("logger"), nb::keep_alive<1, 2>(), nb::keep_alive<1, 3>())
      .def(
          "parse_from_file",
          [](PyOnnxParser& p, const std::filesystem::path& path) {
            require_empty(*p.network);
            const std::string file = path.string();
            nb::gil_scoped_release release;
            p.parser.parse_from_file(file);
            return true;
          },
          nb::arg("path"), "Parses an ONNX file; external weights are read relative to its folder.")
      .def(
          "parse",
          [](PyOnnxParser& p, nb::handle model, nb::handle path) {
            return parse_model(p.parser, *p.network, model, path);
          },
          nb::arg("model"), nb::arg("path").none() = nb::none(),
          "Parses a serialized ModelProto (bytes-like, or an onnx.ModelProto). `path` is the "
          "model's file (or folder), where external weights are looked up.")
      .def_prop_ro(
          "num_errors", [](const PyOnnxParser&) { return 0; },
          "Always 0: kiln raises instead of recording errors (TensorRT "
          "compatibility).");
}

}  // namespace kiln::python
