// End-to-end tests of `qrag inspect`: runs the built executable (QRAG_BINARY,
// set by ctest) on the shared models, the vocabulary files and the fixtures,
// and checks the facts in the plain and the --json output.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/run_qrag.h"
#include "common/test_paths.h"
#include "gguf/gguf_writer.h"

namespace qrag {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::run_qrag;
using testing::shell_quote;

json inspect_json(const std::string& path, std::vector<std::string> extra = {}) {
  std::string args = "inspect ";
  args += shell_quote(path);
  args += " --json";
  for (const std::string& option : extra) {
    args += ' ';
    args += shell_quote(option);
  }
  const CommandResult r = run_qrag(args, testing::make_temp_dir());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(json::accept(r.out)) << "not valid JSON:\n" << r.out.substr(0, 2000);
  return json::accept(r.out) ? json::parse(r.out) : json();
}

// The value printed on the plain-output line that starts with `label`.
std::string plain_fact(const std::string& out, const std::string& label) {
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t end = std::min(out.find('\n', start), out.size());
    const std::string line = out.substr(start, end - start);
    // "label" padded with at least one space, then the value.
    if (line.rfind(label + " ", 0) == 0 && line.find_first_not_of(' ', label.size()) != std::string::npos) {
      const std::size_t value = line.find_first_not_of(' ', label.size());
      if (value > label.size()) return line.substr(value);
    }
    start = end + 1;
  }
  return "<no line '" + label + "'>";
}

std::size_t type_count(const json& j, const std::string& type) {
  for (const json& t : j["tensor_types"]) {
    if (t["type"] == type) return t["tensors"].get<std::size_t>();
  }
  return 0;
}

TEST(Inspect, Stories260KPlain) {
  const auto path = testing::shared_file("models/stories260K/stories260K.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const CommandResult r = run_qrag("inspect " + shell_quote(path->string()), testing::make_temp_dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "") << "plain output goes to stdout only";
  EXPECT_EQ(plain_fact(r.out, "architecture"), "llama");
  EXPECT_EQ(plain_fact(r.out, "n_layer"), "5");
  EXPECT_EQ(plain_fact(r.out, "n_embd"), "64");
  EXPECT_EQ(plain_fact(r.out, "n_head"), "8");
  EXPECT_EQ(plain_fact(r.out, "n_head_kv"), "4");
  EXPECT_EQ(plain_fact(r.out, "n_ff"), "172");
  EXPECT_EQ(plain_fact(r.out, "vocab size"), "512");
  EXPECT_EQ(plain_fact(r.out, "context length"), "128");
  EXPECT_EQ(plain_fact(r.out, "tokenizer"), "llama");
  EXPECT_EQ(plain_fact(r.out, "tensors"), "48");
  EXPECT_EQ(plain_fact(r.out, "tensor types"), "f32: 48");
  EXPECT_EQ(plain_fact(r.out, "parameters"), "292800 (292.8K)");
  EXPECT_EQ(plain_fact(r.out, "bits per weight"), "32.00");
  EXPECT_EQ(plain_fact(r.out, "size"), "1185376 bytes (1.13 MiB)");
  // Long arrays are abbreviated.
  EXPECT_NE(r.out.find(R"(["<unk>", "<s>", "</s>", "<0x00>", "<0x01>", "<0x02>", "<0x03>", "<0x04>", ... 504 more])"),
            std::string::npos);
  EXPECT_EQ(r.out.find("blk.0.attn_q.weight"), std::string::npos) << "tensor table only with --tensors";
}

TEST(Inspect, Stories260KJsonWithTensors) {
  const auto path = testing::shared_file("models/stories260K/stories260K.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K.gguf";
  const json j = inspect_json(path->string(), {"--tensors"});
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["n_layer"], 5);
  EXPECT_EQ(j["n_embd"], 64);
  EXPECT_EQ(j["n_head"], 8);
  EXPECT_EQ(j["n_head_kv"], 4);
  EXPECT_EQ(j["n_ff"], 172);
  EXPECT_EQ(j["vocab_size"], 512);
  EXPECT_EQ(j["n_tensors"], 48);
  EXPECT_EQ(type_count(j, "f32"), 48u);
  EXPECT_EQ(j["tensor_types"].size(), 1u);
  EXPECT_EQ(j["n_params"], 292800);
  EXPECT_EQ(j["bits_per_weight"], 32.0);
  EXPECT_TRUE(j["file_type"].is_null());
  const json& tokens = j["metadata"]["tokenizer.ggml.tokens"];
  EXPECT_EQ(tokens["type"], "array");
  EXPECT_EQ(tokens["element_type"], "string");
  EXPECT_EQ(tokens["length"], 512);
  EXPECT_EQ(tokens["values"].size(), 8u);
  EXPECT_EQ(tokens["truncated"], true);
  EXPECT_EQ(j["metadata"]["llama.block_count"], json({{"type", "uint32"}, {"value", 5}}));
  ASSERT_EQ(j["tensors"].size(), 48u);
  EXPECT_EQ(j["tensors"][0]["name"], "token_embd.weight");
  EXPECT_EQ(j["tensors"][0]["type"], "f32");
  EXPECT_EQ(j["tensors"][0]["shape"], json({64, 512}));
  EXPECT_EQ(j["tensors"][0]["bytes"], 131072);
}

TEST(Inspect, Stories260KF16) {
  const auto path = testing::shared_file("models/stories260K/stories260K-f16.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/stories260K/stories260K-f16.gguf";
  const json j = inspect_json(path->string());
  EXPECT_EQ(j["n_tensors"], 48);
  EXPECT_EQ(type_count(j, "f16"), 37u);
  EXPECT_EQ(type_count(j, "f32"), 11u);
  EXPECT_EQ(j["file_type"]["name"], "MOSTLY_F16");
  EXPECT_EQ(j["n_layer"], 5);
  EXPECT_EQ(j["vocab_size"], 512);
  EXPECT_NEAR(j["bits_per_weight"].get<double>(), 587008.0 * 8 / 292800, 1e-9);
}

TEST(Inspect, TinyRandomLlama) {
  const auto path = testing::shared_file("models/tiny-random/llama-2-tiny-random.gguf");
  if (!path) GTEST_SKIP() << "needs ../shared/models/tiny-random/llama-2-tiny-random.gguf";
  const json j = inspect_json(path->string(), {"--tensors"});
  EXPECT_EQ(j["n_embd"], 8);
  EXPECT_EQ(j["n_layer"], 1);
  EXPECT_EQ(j["n_head"], 2);
  EXPECT_EQ(j["vocab_size"], 32000);
  EXPECT_EQ(j["tensors"].size(), 12u);
}

TEST(Inspect, VocabularyOnlyFiles) {
  const std::pair<const char*, int> files[] = {
      {"ggml-vocab-llama-spm.gguf", 32000},  {"ggml-vocab-phi-3.gguf", 32064},  {"ggml-vocab-bert-bge.gguf", 30522},
      {"ggml-vocab-gpt-2.gguf", 50257},      {"ggml-vocab-falcon.gguf", 65024}, {"ggml-vocab-deepseek-llm.gguf", 102400},
      {"ggml-vocab-llama3.gguf", 128256},    {"ggml-vocab-qwen2.gguf", 151669}};
  int found = 0;
  for (const auto& [name, vocab] : files) {
    const auto path = testing::shared_file(std::string("models/vocab/") + name);
    if (!path) continue;
    ++found;
    SCOPED_TRACE(name);
    const json j = inspect_json(path->string(), {"--tensors"});
    EXPECT_EQ(j["n_tensors"], 0);
    EXPECT_EQ(j["tensors"].size(), 0u);
    EXPECT_EQ(j["vocab_size"], vocab);
    EXPECT_TRUE(j["bits_per_weight"].is_null());
    const CommandResult plain = run_qrag("inspect " + shell_quote(path->string()), testing::make_temp_dir());
    EXPECT_EQ(plain.exit_code, 0) << plain.err;
    EXPECT_EQ(plain_fact(plain.out, "vocab size"), std::to_string(vocab));
    EXPECT_EQ(plain_fact(plain.out, "bits per weight"), "-");
  }
  if (found == 0) GTEST_SKIP() << "needs ../shared/models/vocab";
}

TEST(Inspect, TinyLlamaFixture) {
  const std::string path = testing::test_data("gguf/tiny-llama.gguf").string();
  const CommandResult r = run_qrag("inspect " + shell_quote(path) + " --tensors", testing::make_temp_dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(plain_fact(r.out, "name"), "tiny-llama");
  EXPECT_EQ(plain_fact(r.out, "n_layer"), "2");
  EXPECT_EQ(plain_fact(r.out, "n_embd"), "16");
  EXPECT_EQ(plain_fact(r.out, "n_head"), "4");
  EXPECT_EQ(plain_fact(r.out, "n_head_kv"), "2");
  EXPECT_EQ(plain_fact(r.out, "n_ff"), "32");
  EXPECT_EQ(plain_fact(r.out, "vocab size"), "48");
  EXPECT_EQ(plain_fact(r.out, "file type"), "MOSTLY_F16 (1)");
  EXPECT_EQ(plain_fact(r.out, "tensor types"), "f32: 5, f16: 16");
  EXPECT_NE(r.out.find("blk.1.ffn_down.weight"), std::string::npos);
  const json j = inspect_json(path, {"--tensors"});
  EXPECT_EQ(j["tensors"].size(), 21u);
  EXPECT_EQ(j["n_params"], 6224);
  EXPECT_EQ(j["tensor_bytes"], 12608);
}

TEST(Inspect, EveryValueTypeInJson) {
  const json j = inspect_json(testing::test_data("gguf/value-types.gguf").string(), {"--array-items", "0"});
  const json& m = j["metadata"];
  EXPECT_EQ(m["test.uint64"], json({{"type", "uint64"}, {"value", 18000000000000000000ull}}));
  EXPECT_EQ(m["test.int8"], json({{"type", "int8"}, {"value", -100}}));
  EXPECT_EQ(m["test.bool_false"], json({{"type", "bool"}, {"value", false}}));
  EXPECT_EQ(m["test.string"]["value"], "h\u00e9llo, w\u00f6rld \u2713\nsecond line");
  const json& nested = m["test.array.nested2"];
  EXPECT_EQ(nested["element_type"], "array");
  EXPECT_EQ(nested["values"][0]["values"][0]["values"], json({"x", "y"}));
  EXPECT_EQ(nested["truncated"], false);
  EXPECT_EQ(j["alignment"], 64);
}

TEST(Inspect, ArrayItemsOptionAndInvalidUtf8StayValidJson) {
  const auto dir = testing::make_temp_dir();
  const auto path = dir / "odd.gguf";
  gguf::GgufWriter writer;
  std::vector<gguf::Value> tokens;
  for (int i = 0; i < 20; ++i) tokens.push_back(gguf::Value{std::string("tok") + std::to_string(i)});
  tokens.push_back(gguf::Value{std::string("\xff\xfe bad utf-8")});
  writer.add_metadata("general.architecture", gguf::Value{std::string("llama")});
  writer.add_metadata("tokenizer.ggml.tokens", gguf::Value{gguf::Array{gguf::ValueType::STRING, tokens}});
  writer.add_metadata("llama.block_count", gguf::Value{std::string("not a number")});
  writer.write_file(path, {});
  const json all = inspect_json(path.string(), {"--array-items", "0"});
  EXPECT_EQ(all["metadata"]["tokenizer.ggml.tokens"]["values"].size(), 21u);
  EXPECT_EQ(all["metadata"]["tokenizer.ggml.tokens"]["truncated"], false);
  EXPECT_EQ(all["vocab_size"], 21);
  EXPECT_TRUE(all["n_layer"].is_null());
  ASSERT_EQ(all["warnings"].size(), 1u);
  EXPECT_NE(all["warnings"][0].get<std::string>().find("'llama.block_count'"), std::string::npos);
  const json three = inspect_json(path.string(), {"--array-items", "3"});
  EXPECT_EQ(three["metadata"]["tokenizer.ggml.tokens"]["values"], json({"tok0", "tok1", "tok2"}));
  const CommandResult plain = run_qrag("inspect " + shell_quote(path.string()), dir);
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_NE(plain.err.find("[warning]"), std::string::npos) << "warnings are logged to stderr";
  EXPECT_NE(plain.out.find("... 13 more]"), std::string::npos);
}

TEST(Inspect, MalformedAndMissingFilesFailWithTheFieldAndOffset) {
  const auto dir = testing::make_temp_dir();
  const auto path = dir / "broken.gguf";
  std::ofstream(path, std::ios::binary).write("GGUF\x01\x00\x00\x00", 8);
  const CommandResult r = run_qrag("inspect " + shell_quote(path.string()), dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("qrag: error: reading " + path.string() + ": version at offset 4: GGUF v1 is obsolete"),
            std::string::npos)
      << r.err;
  const CommandResult missing =
      run_qrag("inspect " + shell_quote((dir / "absent.gguf").string()) + " --json", dir);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace qrag
