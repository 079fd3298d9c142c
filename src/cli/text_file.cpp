// Whole-file reads for subcommands that take a text file (imatrix, compare-logits).
#include "cli/text_file.h"

#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::cli {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open text file {}", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(fmt::format("failed to read text file {}", path));
  return text.str();
}

}  // namespace qrag::cli
