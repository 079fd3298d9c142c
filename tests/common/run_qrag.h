// Runs the built qrag executable as a subprocess, for the end-to-end tests in tests/cli.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace qrag::testing {

// The whole file as a string, or an empty string when it cannot be opened.
inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Quotes `text` as one /bin/sh word for run_qrag's `args`, even when it contains spaces or single quotes.
inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

struct CommandResult {
  int exit_code = -1;  // -1 when the process was killed by a signal or could not start
  std::string out;
  std::string err;
};

// Runs `$QRAG_BINARY args` through /bin/sh, so `args` is shell text and paths in it must be
// quoted. Standard output and error are captured in dir/stdout.txt and dir/stderr.txt.
// Tests check QRAG_BINARY (set by ctest) in SetUp and skip without it.
inline CommandResult run_qrag(const std::string& args, const std::filesystem::path& dir) {
  const char* binary = std::getenv("QRAG_BINARY");
  if (binary == nullptr) return {-1, "", "QRAG_BINARY is not set"};
  const auto out = dir / "stdout.txt";
  const auto err = dir / "stderr.txt";
  std::string command = "'";
  command += binary;
  command += "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(out), read_text(err)};
}

// Same as run_qrag with `env` (shell text such as "NAME=value") set for the process.
inline CommandResult run_qrag_with_env(const std::string& env, const std::string& args,
                                       const std::filesystem::path& dir) {
  const char* binary = std::getenv("QRAG_BINARY");
  if (binary == nullptr) return {-1, "", "QRAG_BINARY is not set"};
  const auto out = dir / "stdout.txt";
  const auto err = dir / "stderr.txt";
  std::string command = env + " '";
  command += binary;
  command += "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(out), read_text(err)};
}

}  // namespace qrag::testing
