// summarize(): reads the common hyperparameters and tallies the tensors.
#include "gguf/model_summary.h"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

#include "core/error.h"

namespace qrag::gguf {
namespace {

// llama_ftype ids as written to general.file_type by llama.cpp and gguf-py
// (ids 4-6 and 33-35 were removed from llama.cpp; 1024 marks a guessed type).
constexpr std::array<std::pair<std::uint64_t, std::string_view>, 34> kFileTypes{{
    {0, "ALL_F32"},         {1, "MOSTLY_F16"},      {2, "MOSTLY_Q4_0"},      {3, "MOSTLY_Q4_1"},
    {7, "MOSTLY_Q8_0"},     {8, "MOSTLY_Q5_0"},     {9, "MOSTLY_Q5_1"},      {10, "MOSTLY_Q2_K"},
    {11, "MOSTLY_Q3_K_S"},  {12, "MOSTLY_Q3_K_M"},  {13, "MOSTLY_Q3_K_L"},   {14, "MOSTLY_Q4_K_S"},
    {15, "MOSTLY_Q4_K_M"},  {16, "MOSTLY_Q5_K_S"},  {17, "MOSTLY_Q5_K_M"},   {18, "MOSTLY_Q6_K"},
    {19, "MOSTLY_IQ2_XXS"}, {20, "MOSTLY_IQ2_XS"},  {21, "MOSTLY_Q2_K_S"},   {22, "MOSTLY_IQ3_XS"},
    {23, "MOSTLY_IQ3_XXS"}, {24, "MOSTLY_IQ1_S"},   {25, "MOSTLY_IQ4_NL"},   {26, "MOSTLY_IQ3_S"},
    {27, "MOSTLY_IQ3_M"},   {28, "MOSTLY_IQ2_S"},   {29, "MOSTLY_IQ2_M"},    {30, "MOSTLY_IQ4_XS"},
    {31, "MOSTLY_IQ1_M"},   {32, "MOSTLY_BF16"},    {36, "MOSTLY_TQ1_0"},    {37, "MOSTLY_TQ2_0"},
    {38, "MOSTLY_MXFP4_MOE"}, {1024, "GUESSED"},
}};

// The unsigned integer at `key`, nullopt when absent; a wrong type or a
// negative value is recorded as a warning instead of failing the summary.
std::optional<std::uint64_t> lenient_uint(const GgufFile& file, const std::string& key,
                                          std::vector<std::string>& warnings) {
  if (file.find(key) == nullptr) return std::nullopt;
  try {
    return file.get_uint(key);
  } catch (const Error& error) {
    warnings.push_back(error.message());
    return std::nullopt;
  }
}

std::string lenient_string(const GgufFile& file, const std::string& key, std::vector<std::string>& warnings) {
  if (file.find(key) == nullptr) return {};
  try {
    return file.get_string(key);
  } catch (const Error& error) {
    warnings.push_back(error.message());
    return {};
  }
}

}  // namespace

std::optional<std::string_view> file_type_name(std::uint64_t id) {
  for (const auto& [type_id, name] : kFileTypes) {
    if (type_id == id) return name;
  }
  return std::nullopt;
}

ModelSummary summarize(const GgufFile& file) {
  ModelSummary s;
  auto& w = s.warnings;
  s.architecture = lenient_string(file, "general.architecture", w);
  s.name = lenient_string(file, "general.name", w);
  const std::string arch = s.architecture + ".";
  s.context_length = lenient_uint(file, arch + "context_length", w);
  s.n_layer = lenient_uint(file, arch + "block_count", w);
  s.n_embd = lenient_uint(file, arch + "embedding_length", w);
  s.n_head = lenient_uint(file, arch + "attention.head_count", w);
  s.n_head_kv = lenient_uint(file, arch + "attention.head_count_kv", w);
  s.n_ff = lenient_uint(file, arch + "feed_forward_length", w);
  s.tokenizer_model = lenient_string(file, "tokenizer.ggml.model", w);
  s.tokenizer_pre = lenient_string(file, "tokenizer.ggml.pre", w);
  s.file_type = lenient_uint(file, "general.file_type", w);

  if (const Value* tokens = file.find("tokenizer.ggml.tokens")) {
    if (const auto* array = std::get_if<Array>(&tokens->storage)) {
      s.vocab_size = array->items.size();
    } else {
      w.push_back(file.path().string() + ": metadata key 'tokenizer.ggml.tokens' is not an array");
    }
  }
  if (!s.vocab_size) s.vocab_size = lenient_uint(file, arch + "vocab_size", w);

  std::map<std::uint32_t, TypeCount> by_type;
  for (const TensorInfo& info : file.tensors()) {
    TypeCount& count = by_type[static_cast<std::uint32_t>(info.type)];
    count.type = info.type;
    ++count.n_tensors;
    count.n_elements += static_cast<std::uint64_t>(info.n_elements());
    count.n_bytes += info.n_bytes;
    s.n_params += static_cast<std::uint64_t>(info.n_elements());
    s.tensor_bytes += info.n_bytes;
  }
  for (const auto& [id, count] : by_type) s.tensor_types.push_back(count);
  if (s.n_params > 0) {
    s.bits_per_weight = static_cast<double>(s.tensor_bytes) * 8.0 / static_cast<double>(s.n_params);
  }
  return s;
}

}  // namespace qrag::gguf
