// Tests for synthetic models: spec parsing, errors, and a written file that loads.
#include "engine/synthetic_model.h"

#include <gtest/gtest.h>

#include <string>

#include "common/test_paths.h"
#include "core/error.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qrag::engine {
namespace {

TEST(SyntheticSpec, ParsesShapeAndType) {
  const SyntheticSpec tiny = parse_synthetic_spec("tinyllama-1.1b:q4_0");
  EXPECT_EQ(tiny.shape.name, "tinyllama-1.1b");
  EXPECT_EQ(tiny.shape.n_vocab, 32000);
  EXPECT_EQ(tiny.shape.n_embd, 2048);
  EXPECT_EQ(tiny.shape.n_layer, 22);
  EXPECT_EQ(tiny.shape.n_head, 32);
  EXPECT_EQ(tiny.shape.n_head_kv, 4);
  EXPECT_EQ(tiny.shape.n_ff, 5632);
  EXPECT_EQ(tiny.type, "q4_0");
  const SyntheticSpec smol = parse_synthetic_spec("smollm2-135m");
  EXPECT_EQ(smol.shape.n_embd, 576);
  EXPECT_EQ(smol.type, "f16");
}

TEST(SyntheticSpec, UnknownShapeListsKnownOnes) {
  try {
    parse_synthetic_spec("llama-70b:q4_0");
    FAIL() << "an unknown shape was accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'llama-70b'"), std::string::npos) << message;
    EXPECT_NE(message.find("smollm2-135m, stories260k, tinyllama-1.1b"), std::string::npos) << message;
  }
  EXPECT_THROW(parse_synthetic_spec("stories260k:q3_k"), Error);
}

// stories260k's 64-wide rows are no multiple of 256, so q4_k_m stores its Q4_K
// matrices as Q5_0 and its Q6_K ones as Q8_0. A second call reuses the file.
TEST(SyntheticModel, WrittenFileLoads) {
  const auto dir = testing::make_temp_dir();
  const SyntheticSpec spec = parse_synthetic_spec("stories260k:q4_k_m");
  const auto path = write_synthetic_model(spec, dir);
  EXPECT_EQ(path.filename(), "synthetic-stories260k-q4_k_m.gguf");
  const auto written = std::filesystem::last_write_time(path);
  EXPECT_EQ(write_synthetic_model(spec, dir), path);
  EXPECT_EQ(std::filesystem::last_write_time(path), written);

  const auto model = model::Model::load(path);
  EXPECT_EQ(model->hparams().n_embd, 64);
  EXPECT_EQ(model->hparams().n_layer, 5);
  EXPECT_EQ(model->hparams().n_vocab, 512);
  EXPECT_EQ(model->file().tensor("blk.1.attn_q.weight").type, gguf::GgmlType::Q5_0);
  EXPECT_EQ(model->file().tensor("output.weight").type, gguf::GgmlType::Q8_0);
  EXPECT_EQ(model->file().tensor("blk.0.ffn_norm.weight").type, gguf::GgmlType::F32);

  // The vocabulary fills the embedding rows. Text encodes to BOS, the word-start piece
  // and byte tokens (no filler piece matches), and decodes back.
  const auto tok = tokenizer::Tokenizer::from_gguf(model->file());
  EXPECT_EQ(tok.n_vocab(), 512);
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_EQ(tok.token_text(3 + 'h'), "<0x68>");
  EXPECT_EQ(tok.token_text(511), "\u2581t511");
  const std::vector<std::int32_t> ids = tok.encode("hi", true, false);
  ASSERT_EQ(ids.size(), 4u);  // BOS, U+2581, 'h', 'i'
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 259);
  EXPECT_EQ(ids[2], 3 + 'h');
  EXPECT_EQ(ids[3], 3 + 'i');
  EXPECT_EQ(tok.decode(ids, false), " hi");
}

// A file of the expected name without a vocabulary (as written by older qrag versions)
// is replaced instead of reused.
TEST(SyntheticModel, RewritesFileWithoutVocabulary) {
  const auto dir = testing::make_temp_dir();
  const auto path = dir / "synthetic-stories260k-f32.gguf";
  gguf::GgufWriter old_writer;
  old_writer.add_metadata("general.architecture", gguf::Value{std::string("llama")});
  old_writer.write_file(path, [](const gguf::TensorInfo&, gguf::ByteSink&) {});
  ASSERT_EQ(gguf::GgufFile::open(path).find("tokenizer.ggml.tokens"), nullptr);

  EXPECT_EQ(write_synthetic_model(parse_synthetic_spec("stories260k:f32"), dir), path);
  const auto file = gguf::GgufFile::open(path);
  EXPECT_NE(file.find("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(file.get_string_array("tokenizer.ggml.tokens").size(), 512u);
}

}  // namespace
}  // namespace qrag::engine
