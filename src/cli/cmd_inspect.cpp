// `qrag inspect`: prints the facts of a GGUF file (placeholder until the reader lands).
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace qrag::cli {

void register_inspect(CLI::App& app, const GlobalOptions& /*options*/) {
  auto* cmd = app.add_subcommand("inspect", "Print the metadata and tensor table of a GGUF file");
  auto path = std::make_shared<std::string>();
  cmd->add_option("file", *path, "GGUF file")->required();
  cmd->callback([path] { throw Error("inspect: not implemented yet: " + *path); });
}

}  // namespace qrag::cli
