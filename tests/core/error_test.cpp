// Tests for qrag::Error context chains and log-level parsing.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/log.h"

namespace qrag {
namespace {

TEST(Error, ContextPrependsOutermostFirst) {
  try {
    with_context("reading model.gguf", [] {
      with_context("tensor 'blk.3.attn_q.weight'", []() -> int {
        throw Error("data offset 123 beyond end of file (size 100)");
      });
    });
    FAIL() << "expected qrag::Error";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()),
              "reading model.gguf: tensor 'blk.3.attn_q.weight': data offset 123 beyond end of file (size 100)");
  }
}

TEST(Error, WithContextPassesValueThrough) {
  EXPECT_EQ(with_context("unused", [] { return 42; }), 42);
}

TEST(LogLevel, ParsesKnownNames) {
  EXPECT_EQ(core::parse_log_level("debug"), spdlog::level::debug);
  EXPECT_EQ(core::parse_log_level("error"), spdlog::level::err);
  EXPECT_EQ(core::parse_log_level("off"), spdlog::level::off);
}

TEST(LogLevel, RejectsUnknownNameWithValue) {
  try {
    core::parse_log_level("loud");
    FAIL() << "expected qrag::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("'loud'"), std::string::npos);
  }
}

}  // namespace
}  // namespace qrag
