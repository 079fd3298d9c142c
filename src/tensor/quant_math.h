// Internal helpers of the quantizers: ggml's rounding and the per-block scale searches.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>

#include "core/check.h"

namespace qrag::tensor::detail {

// Rounds to the nearest integer, ties to even, for |v| <= 2^22 (as ggml's
// nearest_int): adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits.
inline int nearest_int(float v) {
  const float biased = v + 12582912.0f;
  return static_cast<int>(std::bit_cast<std::uint32_t>(biased) & 0x007fffffu) - 0x00400000;
}

inline int clamp_int(int v, int lo, int hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// Blocks whose largest magnitude is below this are treated as all zeros (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// Fits x ~ scale * L - min_out with L in [0, nmax], as ggml's make_qkx2_quants does.
// It starts from the min/max grid and then tries nstep + 1 grids of nmax + rmin + rdelta*k
// levels over the range. It keeps the weighted least-squares fit with the lowest weighted
// error, squared or absolute (use_mad). Returns the scale and writes L [n] and
// *min_out >= 0. laux: [n] scratch.
float fit_scale_min(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* min_out,
                    std::uint8_t* laux, float rmin, float rdelta, int nstep, bool use_mad);

// Fits x ~ scale * (L - nmax) with L - nmax in [-nmax, nmax-1], as ggml's make_qx_quants
// (rmse_type 1) does, with weights `weights` or, when null, x^2. Tries 19 grids around
// nmax / max and keeps the best least-squares fit. Returns the scale (0 for an all-zero
// block) and writes L [n] in [0, 2*nmax-1].
float fit_scale_symmetric(int n, int nmax, const float* x, std::int8_t* L, const float* weights);

// Fits Q3_K sub-blocks as ggml's make_q3_quants (do_rmse) does: starts from -nmax/max
// and moves single elements to other levels while that improves the x^2-weighted
// least-squares fit, for at most 5 passes. Writes L [n] in [0, 2*nmax-1].
float fit_scale_q3(int n, int nmax, const float* x, std::int8_t* L);

// sum importance[i] * (x[i] - y[i])^2 over [n], with importance 1 when null.
double weighted_squared_error(const float* x, const float* y, const float* importance, int n);

// Per-element weight sets that the K-quant and IQ4_NL searches are run with, for one
// block x [n]. sets[0] is null (the type's ggml reference weights); unless
// reference_only, then uniform weights and, with importance, the importance itself and
// importance * sqrt(sigma2 + x^2) (sigma2 = 2 * mean(x^2), ggml's importance-matrix weighting).
struct FitWeightSets {
  static constexpr int kMaxBlock = 256;
  float ones[kMaxBlock];
  float scaled[kMaxBlock];
  const float* sets[4];
  int count = 0;

  FitWeightSets(const float* x, const float* importance, int n, bool reference_only);
};

// Encodes one candidate per weight set with encode(weights, &block), decodes it with
// decode(&block, out, n) and keeps in *best the one with the lowest importance-weighted
// squared error against x [n]; ties keep the earlier set.
template <typename Block, typename Encode, typename Decode>
void keep_best_candidate(const float* x, int n, const float* importance, const FitWeightSets& weight_sets,
                         Encode&& encode, Decode&& decode, Block* best) {
  QRAG_CHECK(n <= FitWeightSets::kMaxBlock, "block larger than the candidate buffer");
  float decoded[FitWeightSets::kMaxBlock];
  double best_error = std::numeric_limits<double>::infinity();
  for (int k = 0; k < weight_sets.count; ++k) {
    Block candidate;
    encode(weight_sets.sets[k], &candidate);
    decode(&candidate, decoded, n);
    const double error = weighted_squared_error(x, decoded, importance, n);
    if (k == 0 || error < best_error) {
      *best = candidate;
      best_error = error;
    }
  }
}

}  // namespace qrag::tensor::detail
