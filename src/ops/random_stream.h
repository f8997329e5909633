// The random streams of RandomUniform, RandomNormal (and their Like forms) and Bernoulli
// (src/ops/random.cpp), shared with their CUDA kernels (src/backends/cuda/random.cu) so that
// both backends draw the same numbers: draw i of a node's stream is a pure function of the
// node's seed and i (SplitMix64), which a GPU thread computes without the draws before it.
#pragma once

#include <cstdint>

#include "ir/node.h"

#if defined(__CUDACC__)
#define KILN_RANDOM_HOST_DEVICE __host__ __device__
#else
#define KILN_RANDOM_HOST_DEVICE
#endif

namespace kiln::ops::random_stream {

// The float types the random ops make, and Bernoulli's probability types.
inline bool is_random_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
         t == DataType::kFloat64;
}

// Draw `i` (from 0) of the SplitMix64 stream that starts from state `seed`.
KILN_RANDOM_HOST_DEVICE inline uint64_t draw(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Draw `i` as a double uniform in [0, 1) with 53 random bits.
KILN_RANDOM_HOST_DEVICE inline double unit(uint64_t seed, uint64_t i) {
  return double(draw(seed, i) >> 11) * 0x1.0p-53;
}

// The stream's seed for `node`: the bits of its `seed` attribute, or without one an FNV-1a
// hash of its name (engines are reproducible: every run gives the same values).
uint64_t seed_for(const ir::Node& node);

}  // namespace kiln::ops::random_stream
