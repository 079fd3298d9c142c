// `qrag tokenize`: prints the token ids (and pieces) of a text under a model's vocabulary.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace qrag::cli {
namespace {

struct TokenizeOptions {
  std::string model_path;
  std::string text;
  bool special = false;
  bool pieces = false;
  bool no_add_special = false;
  std::string pre_tokenizer;
};

void run_tokenize(const TokenizeOptions& options) {
  std::string text = options.text;
  if (text == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }

  const gguf::GgufFile file = gguf::GgufFile::open(options.model_path);
  tokenizer::TokenizerOptions tokenizer_options;
  if (!options.pre_tokenizer.empty()) tokenizer_options.force_pre_tokenizer = options.pre_tokenizer;
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(file, tokenizer_options);

  const auto ids = tok.encode(text, !options.no_add_special, options.special);
  if (options.pieces) {
    for (const std::int32_t id : ids) fmt::print("{}\t{:?}\n", id, tok.piece(id));
  } else {
    fmt::print("{}\n", ids);
  }
  fmt::print("count: {}\n", ids.size());

  // Round trip without BOS/EOS, so SentencePiece's space prefix does not count as a difference.
  const auto plain = tok.encode(text, false, options.special);
  const bool round_trips = tok.decode(plain, options.special) == text;
  fmt::print("round-trip: {}\n", round_trips ? "yes" : "no (decode differs from the input)");
}

}  // namespace

void register_tokenize(CLI::App& app, const GlobalOptions& /*options*/) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text under a GGUF model's vocabulary");
  cmd->add_option("-m,--model", options->model_path, "GGUF model or vocabulary file")->required();
  cmd->add_option("text", options->text, "Text to tokenize, or - to read standard input")->required();
  cmd->add_flag("--special", options->special,
                "Parse special-token text such as <|im_start|> into its token, and print special tokens when "
                "decoding");
  cmd->add_flag("--pieces", options->pieces, "Print one line per token: the id and its decoded text");
  cmd->add_flag("--no-add-special", options->no_add_special, "Do not add BOS/EOS ([CLS]/[SEP] for BERT)");
  cmd->add_option("--pre-tokenizer", options->pre_tokenizer,
                  "Override the BPE pre-tokenizer named by tokenizer.ggml.pre (e.g. gpt-2, llama-bpe)");
  cmd->callback([options] { run_tokenize(*options); });
}

}  // namespace qrag::cli
