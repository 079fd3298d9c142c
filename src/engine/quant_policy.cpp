// Per-tensor type choice of the quantizer: targets, mixes (q4_k_m...), block-size fallbacks.
#include "engine/quant_policy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "tensor/quantize.h"

namespace qrag::engine {
namespace {

struct TargetEntry {
  std::string_view name;
  GgmlType base;
  Mix mix;
  std::uint32_t file_type;  // llama.cpp's enum llama_ftype
};

// llama.cpp has no llama_ftype for a plain K-quant target, so it gets the number
// of the "_S" variant, the mix closest to one type for every matrix.
constexpr std::array kTargets{
    TargetEntry{"F32", GgmlType::F32, Mix::kNone, 0},
    TargetEntry{"F16", GgmlType::F16, Mix::kNone, 1},
    TargetEntry{"BF16", GgmlType::BF16, Mix::kNone, 32},
    TargetEntry{"Q8_0", GgmlType::Q8_0, Mix::kNone, 7},
    TargetEntry{"Q4_0", GgmlType::Q4_0, Mix::kNone, 2},
    TargetEntry{"Q4_1", GgmlType::Q4_1, Mix::kNone, 3},
    TargetEntry{"Q5_0", GgmlType::Q5_0, Mix::kNone, 8},
    TargetEntry{"Q5_1", GgmlType::Q5_1, Mix::kNone, 9},
    TargetEntry{"Q2_K", GgmlType::Q2_K, Mix::kNone, 10},
    TargetEntry{"Q3_K", GgmlType::Q3_K, Mix::kNone, 11},
    TargetEntry{"Q4_K", GgmlType::Q4_K, Mix::kNone, 14},
    TargetEntry{"Q5_K", GgmlType::Q5_K, Mix::kNone, 16},
    TargetEntry{"Q6_K", GgmlType::Q6_K, Mix::kQ6_K, 18},
    TargetEntry{"IQ4_NL", GgmlType::IQ4_NL, Mix::kNone, 25},
    TargetEntry{"Q3_K_M", GgmlType::Q3_K, Mix::kQ3_K_M, 12},
    TargetEntry{"Q4_K_S", GgmlType::Q4_K, Mix::kQ4_K_S, 14},
    TargetEntry{"Q4_K_M", GgmlType::Q4_K, Mix::kQ4_K_M, 15},
    TargetEntry{"Q5_K_S", GgmlType::Q5_K, Mix::kQ5_K_S, 16},
    TargetEntry{"Q5_K_M", GgmlType::Q5_K, Mix::kQ5_K_M, 17},
};

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// The layers of the common K-quant recipes that get more bits: the first and
// last eighth, and every third layer in between.
bool use_more_bits(int il, int n) {
  return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2;
}

// The 32-element type a K-quant falls back to when 256 does not divide a row.
std::optional<GgmlType> k_quant_mate(GgmlType type) {
  switch (type) {
    case GgmlType::Q2_K:
    case GgmlType::Q3_K: return GgmlType::IQ4_NL;
    case GgmlType::Q4_K: return GgmlType::Q5_0;
    case GgmlType::Q5_K: return GgmlType::Q5_1;
    case GgmlType::Q6_K: return GgmlType::Q8_0;
    default: return std::nullopt;
  }
}

bool fits(GgmlType type, std::int64_t row_length) {
  return row_length % gguf::type_layout(type).block_size == 0;
}

}  // namespace

std::optional<QuantTarget> parse_quant_target(std::string_view name) {
  const std::string upper = to_upper(name);
  for (const TargetEntry& entry : kTargets) {
    if (entry.name == upper) return QuantTarget{std::string(entry.name), entry.base, entry.mix, entry.file_type};
  }
  return std::nullopt;
}

std::vector<std::string> quant_target_names() {
  std::vector<std::string> names;
  for (const TargetEntry& entry : kTargets) {
    std::string lower(entry.name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names.push_back(lower);
  }
  return names;
}

GgmlType fallback_type(GgmlType wanted, std::int64_t row_length) {
  if (fits(wanted, row_length)) return wanted;
  if (const auto mate = k_quant_mate(wanted); mate && fits(*mate, row_length)) return *mate;
  return GgmlType::F16;
}

std::optional<int> layer_index(std::string_view tensor_name) {
  constexpr std::string_view kPrefix = "blk.";
  if (tensor_name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view rest = tensor_name.substr(kPrefix.size());
  int il = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), il);
  if (ec != std::errc() || end == rest.data() || end == rest.data() + rest.size() || *end != '.') return std::nullopt;
  return il;
}

bool is_quantizable_matrix(const gguf::TensorInfo& info) {
  if (info.n_dims < 2) return false;
  if (!ends_with(info.name, "weight")) return false;
  // Norm weights and MoE routers are small and sensitive, so llama.cpp keeps them in F32 too.
  return !contains(info.name, "_norm") && !contains(info.name, "ffn_gate_inp");
}

QuantPolicy::QuantPolicy(QuantTarget target, PolicyOptions options, std::span<const gguf::TensorInfo> tensors)
    : target_(std::move(target)), options_(options) {
  for (const gguf::TensorInfo& info : tensors) {
    if (ends_with(info.name, "attn_v.weight")) ++n_attn_v_;
    if (ends_with(info.name, "ffn_down.weight")) ++n_ffn_down_;
    if (info.name == "output.weight") has_output_ = true;
  }
}

GgmlType QuantPolicy::mix_type(std::string_view name, std::string& reason) const {
  const GgmlType base = target_.base_type;
  const Mix mix = target_.mix;
  const int il = layer_index(name).value_or(0);
  const auto more = [&](GgmlType type, std::string_view why) {
    reason = fmt::format("mix {}: {}", target_.name, why);
    return type;
  };

  if (name == "output.weight" || (!has_output_ && name == "token_embd.weight")) return more(GgmlType::Q6_K, "output matrix");
  const bool m_mix = mix == Mix::kQ4_K_M || mix == Mix::kQ5_K_M;
  if (ends_with(name, "attn_v.weight")) {
    if (m_mix && use_more_bits(il, n_attn_v_)) return more(GgmlType::Q6_K, "attn_v of a selected layer");
    if (mix == Mix::kQ4_K_S && il < 4) return more(GgmlType::Q5_K, "attn_v of the first 4 layers");
    if (mix == Mix::kQ3_K_M) return more(il < 2 ? GgmlType::Q5_K : GgmlType::Q4_K, "attn_v");
  }
  if (ends_with(name, "attn_qkv.weight")) {
    if (mix == Mix::kQ4_K_M) return more(GgmlType::Q5_K, "fused attn_qkv");
    if (mix == Mix::kQ5_K_M) return more(GgmlType::Q6_K, "fused attn_qkv");
    if (mix == Mix::kQ3_K_M) return more(GgmlType::Q4_K, "fused attn_qkv");
  }
  if (ends_with(name, "ffn_down.weight")) {
    if (m_mix && use_more_bits(il, n_ffn_down_)) return more(GgmlType::Q6_K, "ffn_down of a selected layer");
    if (mix == Mix::kQ4_K_S && il < n_ffn_down_ / 8) return more(GgmlType::Q5_K, "ffn_down of the first eighth");
    if (mix == Mix::kQ3_K_M) return more(il < n_ffn_down_ / 16 ? GgmlType::Q5_K : GgmlType::Q4_K, "ffn_down");
  }
  if (ends_with(name, "attn_output.weight") && mix == Mix::kQ3_K_M) return more(GgmlType::Q4_K, "attn_output");
  return base;
}

GgmlType QuantPolicy::recipe_type(const gguf::TensorInfo& info, std::string& reason) const {
  if (info.name == "token_embd.weight" && options_.token_embd_type) {
    reason = "--token-embd-type";
    return *options_.token_embd_type;
  }
  if (target_.mix == Mix::kNone) return target_.base_type;
  return mix_type(info.name, reason);
}

TensorChoice QuantPolicy::choose(const gguf::TensorInfo& info) const {
  TensorChoice choice;
  if (!tensor::can_dequantize(info.type)) {  // integer tensors and unknown layouts travel as they are
    choice.type = choice.wanted = info.type;
    choice.copy = true;
    choice.reason = "not a float type";
    return choice;
  }
  if (!is_quantizable_matrix(info)) {
    choice.type = choice.wanted = GgmlType::F32;
    choice.copy = info.type == GgmlType::F32;
    choice.reason = info.n_dims < 2 ? "1-D" : "kept in F32";
    return choice;
  }
  if (options_.keep_output && info.name == "output.weight") {
    choice.type = choice.wanted = info.type;
    choice.copy = true;
    choice.reason = "--keep-output";
    return choice;
  }

  choice.wanted = recipe_type(info, choice.reason);
  choice.type = fallback_type(choice.wanted, info.ne[0]);
  if (choice.type != choice.wanted) {
    choice.fell_back = true;
    choice.reason = fmt::format("fallback: row length {} is not a multiple of {}'s block size {}", info.ne[0],
                                to_upper(gguf::type_name(choice.wanted)), gguf::type_layout(choice.wanted).block_size);
  }
  choice.copy = choice.type == info.type;
  return choice;
}

}  // namespace qrag::engine
