// Per-block scale searches shared by the K-quant quantizers (ggml's iterative fits).
// Sums accumulate in F32 in ggml's operation order, so the fits reproduce ggml's codes.
#include <cmath>

#include "tensor/quant_math.h"

namespace qrag::tensor::detail {
namespace {

// The element of largest magnitude (the first one on ties), with its sign.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

// Codes of x on the grid x ~ L / iscale + min, clamped to [0, nmax].
void round_asymmetric(int n, int nmax, const float* x, float iscale, float min, std::uint8_t* L) {
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<std::uint8_t>(clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax));
  }
}

float asymmetric_error(int n, const float* x, const float* weights, const std::uint8_t* L, float scale,
                       float min, bool use_mad) {
  float error = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float diff = scale * static_cast<float>(L[i]) + min - x[i];
    error += weights[i] * (use_mad ? std::fabs(diff) : diff * diff);
  }
  return error;
}

}  // namespace

float fit_scale_min(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* min_out,
                    std::uint8_t* laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0.0f) min = 0.0f;  // the min is subtracted as dmin * m with m >= 0
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *min_out = -min;
    return 0.0f;
  }

  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1.0f / iscale;
  round_asymmetric(n, nmax, x, iscale, min, L);
  float best_error = asymmetric_error(n, x, weights, L, scale, min, use_mad);

  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    round_asymmetric(n, nmax, x, iscale, min, laux);
    float sum_l = 0.0f;
    float sum_l2 = 0.0f;
    float sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float wl = weights[i] * static_cast<float>(laux[i]);
      sum_l += wl;
      sum_l2 += wl * static_cast<float>(laux[i]);
      sum_xl += wl * x[i];
    }
    // Weighted least squares of x ~ scale * l + min over this grid's codes.
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0.0f) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0.0f) {
      this_min = 0.0f;
      this_scale = sum_xl / sum_l2;
    }
    const float error = asymmetric_error(n, x, weights, laux, this_scale, this_min, use_mad);
    if (error < best_error) {
      for (int i = 0; i < n; ++i) L[i] = laux[i];
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *min_out = -min;
  return scale;
}

float fit_scale_symmetric(int n, int nmax, const float* x, std::int8_t* L, const float* weights) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  // sum_lx, sum_l2 of the codes of grid `iscale`; the best grid maximizes sum_lx^2 / sum_l2.
  auto fit = [&](float iscale, float* sum_lx, float* sum_l2, bool store) {
    *sum_lx = 0.0f;
    *sum_l2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      if (store) L[i] = static_cast<std::int8_t>(l + nmax);
      const float w = weights != nullptr ? weights[i] : x[i] * x[i];
      *sum_lx += w * x[i] * static_cast<float>(l);
      *sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
  };
  float sum_lx = 0.0f;
  float sum_l2 = 0.0f;
  fit(-static_cast<float>(nmax) / max, &sum_lx, &sum_l2, true);
  float scale = sum_l2 != 0.0f ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    fit(iscale, &sum_lx, &sum_l2, false);
    if (sum_l2 > 0.0f && sum_lx * sum_lx > best * sum_l2) {
      fit(iscale, &sum_lx, &sum_l2, true);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

float fit_scale_q3(int n, int nmax, const float* x, std::int8_t* L) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  const float iscale = -static_cast<float>(nmax) / max;
  float sum_lx = 0.0f;
  float sum_l2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<std::int8_t>(l);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * static_cast<float>(l);
    sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  // Coordinate descent: move one element to the level that the least-squares scale of
  // the others implies, when that raises sum_lx^2 / sum_l2 (lowers the fit's error).
  for (int pass = 0; pass < 5; ++pass) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sum_lx - w * x[i] * static_cast<float>(L[i]);
      if (slx <= 0.0f) continue;
      float sl2 = sum_l2 - w * static_cast<float>(L[i]) * static_cast<float>(L[i]);
      const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (new_l == L[i]) continue;
      slx += w * x[i] * static_cast<float>(new_l);
      sl2 += w * static_cast<float>(new_l) * static_cast<float>(new_l);
      if (sl2 > 0.0f && slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
        L[i] = static_cast<std::int8_t>(new_l);
        sum_lx = slx;
        sum_l2 = sl2;
        ++n_changed;
      }
    }
    if (n_changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(L[i] + nmax);
  return sum_lx / sum_l2;
}

double weighted_squared_error(const float* x, const float* y, const float* importance, int n) {
  double error = 0.0;
  for (int i = 0; i < n; ++i) {
    const double diff = static_cast<double>(x[i]) - y[i];
    error += (importance != nullptr ? importance[i] : 1.0) * diff * diff;
  }
  return error;
}

FitWeightSets::FitWeightSets(const float* x, const float* importance, int n, bool reference_only) {
  QRAG_CHECK(n <= kMaxBlock, "block larger than the weight buffers");
  sets[count++] = nullptr;
  if (reference_only) return;
  for (int i = 0; i < n; ++i) ones[i] = 1.0f;
  sets[count++] = ones;
  if (importance == nullptr) return;
  float sum_x2 = 0.0f;
  for (int i = 0; i < n; ++i) sum_x2 += x[i] * x[i];
  const float sigma2 = 2.0f * sum_x2 / static_cast<float>(n);
  for (int i = 0; i < n; ++i) scaled[i] = importance[i] * std::sqrt(sigma2 + x[i] * x[i]);
  sets[count++] = importance;
  sets[count++] = scaled;
}

}  // namespace qrag::tensor::detail
