// Shared helpers for the gguf tests: error capture and tensor-data comparison.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_file.h"

namespace qrag::gguf::testing {

// Runs fn and returns the qrag::Error message it throws ("" plus a test
// failure when it throws nothing).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.message();
  }
  ADD_FAILURE() << "expected a qrag::Error";
  return {};
}

// Asserts that every expected substring occurs in message.
inline void expect_contains_all(const std::string& message, const std::vector<std::string>& expected) {
  for (const std::string& part : expected) {
    EXPECT_NE(message.find(part), std::string::npos) << "missing \"" << part << "\" in:\n  " << message;
  }
}

// Metadata, tensor declarations and tensor bytes equal (version and layout may differ).
inline void expect_same_content(const GgufFile& a, const GgufFile& b) {
  ASSERT_EQ(a.metadata().size(), b.metadata().size());
  for (std::size_t i = 0; i < a.metadata().size(); ++i) {
    EXPECT_EQ(a.metadata()[i].key, b.metadata()[i].key);
    EXPECT_TRUE(a.metadata()[i].value == b.metadata()[i].value) << "value of " << a.metadata()[i].key;
  }
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (std::size_t i = 0; i < a.tensors().size(); ++i) {
    const TensorInfo& x = a.tensors()[i];
    const TensorInfo& y = b.tensors()[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.type, y.type);
    EXPECT_EQ(x.n_dims, y.n_dims);
    EXPECT_EQ(x.ne, y.ne);
    EXPECT_EQ(x.n_bytes, y.n_bytes);
    const auto dx = a.tensor_data(x);
    const auto dy = b.tensor_data(y);
    EXPECT_TRUE(std::equal(dx.begin(), dx.end(), dy.begin(), dy.end())) << "bytes of " << x.name;
  }
}

}  // namespace qrag::gguf::testing
