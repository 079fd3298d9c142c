// Model files of a run: derived precisions and converted encoders, cached on disk, and file hashes.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "experiment/config.h"

namespace qrag::core {
class ThreadPool;
}

namespace qrag::experiment {

// Resolves the GGUF file of every (model, precision) and encoder of a config. Derived
// files are written once into `cache_dir` (atomically, by the quantizer and converter)
// and reused by later runs: a cached file is used when it is newer than its source.
// Hashes are XXH3-128 over the whole file, computed once per path. Not thread-safe.
class ModelFiles {
 public:
  // `pool` (borrowed, may be null) parallelizes quantization.
  ModelFiles(std::filesystem::path cache_dir, core::ThreadPool* pool);

  // The file a cell runs on: the model's own file for "stored", else a quantization of
  // it (requantizing an already quantized base, which the quantizer records in
  // qrag.quantized_from). Throws qrag::Error when the base file does not exist.
  std::filesystem::path llm_file(const ModelConfig& model, const std::string& precision);

  // Returns the GGUF file of an encoder. A checkpoint folder is converted to F32 GGUF
  // first. The file is then quantized unless the precision is "stored".
  std::filesystem::path encoder_file(const EncoderConfig& encoder);

  // 32 lowercase hex digits of the file's XXH3-128.
  std::string file_hash(const std::filesystem::path& path);

  const std::filesystem::path& cache_dir() const { return cache_dir_; }

 private:
  std::filesystem::path quantized(const std::filesystem::path& source, const std::string& stem,
                                  const std::string& precision);

  std::filesystem::path cache_dir_;
  core::ThreadPool* pool_;
  std::map<std::filesystem::path, std::string> hashes_;
};

// Returns the label a report shows for a cell's precision: the precision, the file's most
// common matrix type and its qrag.quantized_from chain, e.g. "q8_0 (Q8_0 <- Q4_1)".
std::string describe_precision(const std::filesystem::path& file, const std::string& precision);

}  // namespace qrag::experiment
