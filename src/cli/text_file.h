// Reading whole text files named on the command line, with errors that name the file.
#pragma once

#include <string>

namespace qrag::cli {

// Returns the bytes of the file at `path`. Throws qrag::Error naming the path when the
// file cannot be opened or read.
std::string read_text_file(const std::string& path);

}  // namespace qrag::cli
