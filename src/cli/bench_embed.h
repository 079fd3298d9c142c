// `qrag bench --embed`: documents embedded per second by GGUF BERT encoders, as used by dense retrieval.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace qrag::cli {

struct EmbedBenchOptions {
  std::vector<std::string> models;  // GGUF BERT encoders
  std::string texts_path;           // plain text, one document per line
  std::string questions_path;       // or a LaMP questions file: its profile documents
  std::string task = "LaMP_3";      // task of questions_path, which sets the document fields
  std::size_t n_texts = 512;        // documents per repetition (the first n of the source)
  std::size_t batch = 32;           // texts per embed() call, as in the dense retriever's default
  int threads = 1;
  int reps = 3;
  std::string output = "md";  // md, csv or json
};

// Embeds the first n_texts documents with each model once as a warm-up and then `reps`
// times, and prints documents and tokens per second (median, min, max over repetitions).
// Throws qrag::Error naming the option or file on invalid input.
void run_embed_bench(const EmbedBenchOptions& options);

}  // namespace qrag::cli
