// Tests of first-step top-K records: construction, BLOB round trip, KL and agreement.
#include "experiment/topk.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"

namespace qrag::experiment {
namespace {

TopKRecord full_record(const std::vector<double>& probabilities) {
  TopKRecord record;
  record.vocab_size = static_cast<std::uint32_t>(probabilities.size());
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    record.entries.push_back({static_cast<std::int32_t>(i), static_cast<float>(std::log(probabilities[i]))});
  }
  record.rest_mass = 0.0f;
  std::stable_sort(record.entries.begin(), record.entries.end(),
                   [](const TokenLogprob& x, const TokenLogprob& y) { return x.logprob > y.logprob; });
  return record;
}

TEST(TopK, FromLogitsSortedAndNormalized) {
  const std::vector<float> logits = {0.0f, 2.0f, 1.0f, 2.0f, -1.0f};
  const TopKRecord record = make_topk_record(logits, 3);
  ASSERT_EQ(record.entries.size(), 3u);
  EXPECT_EQ(record.entries[0].token, 1);  // tie with token 3 broken by the lower id
  EXPECT_EQ(record.entries[1].token, 3);
  EXPECT_EQ(record.entries[2].token, 2);
  double z = 0;
  for (float logit : logits) z += std::exp(double{logit});
  EXPECT_NEAR(record.entries[0].logprob, 2.0 - std::log(z), 1e-6);
  EXPECT_NEAR(record.rest_mass, (1.0 + std::exp(-1.0)) / z, 1e-6);
  EXPECT_EQ(record.vocab_size, 5u);
}

TEST(TopK, BlobRoundTrip) {
  const std::vector<float> logits = {0.5f, -2.0f, 3.0f, 1.0f};
  const TopKRecord record = make_topk_record(logits, 2);
  const std::vector<std::uint8_t> blob = encode_topk(record);
  ASSERT_EQ(blob.size(), 12u + 8u * 2);
  EXPECT_EQ(blob[0], 1);
  EXPECT_EQ(blob[1], 2);
  EXPECT_EQ(blob[4], 4);  // vocab_size, little-endian
  EXPECT_EQ(blob[12], 2);  // first token id
  EXPECT_EQ(decode_topk(blob), record);
  EXPECT_TRUE(decode_topk({}).empty());
}

TEST(TopK, BlobRejectsCorruption) {
  const std::vector<float> logits = {0.5f, -2.0f, 3.0f, 1.0f};
  const std::vector<std::uint8_t> blob = encode_topk(make_topk_record(logits, 2));
  std::vector<std::uint8_t> bad = blob;
  bad[0] = 2;
  EXPECT_THROW(decode_topk(bad), Error);
  bad = blob;
  bad.pop_back();
  EXPECT_THROW(decode_topk(bad), Error);
  bad = blob;
  bad[12] = 9;  // token id 9 with vocab 4
  EXPECT_THROW(decode_topk(bad), Error);
}

TEST(TopK, KlOfIdenticalIsZero) {
  const std::vector<float> logits = {0.1f, 1.7f, -0.3f, 2.2f, 0.9f, -1.0f};
  const TopKRecord record = make_topk_record(logits, 3);
  EXPECT_NEAR(kl_divergence_topk(record, record), 0.0, 1e-6);
  EXPECT_TRUE(top1_agrees(record, record));
}

TEST(TopK, KlOfKnownPairFullSupport) {
  // With the whole vocabulary recorded the formula is the exact KL:
  // KL = 0.5 ln(0.5/0.25) + 0.25 ln(0.25/0.25) + 0.25 ln(0.25/0.5) = 0.25 ln 2.
  const TopKRecord p = full_record({0.5, 0.25, 0.25});
  const TopKRecord q = full_record({0.25, 0.25, 0.5});
  EXPECT_NEAR(kl_divergence_topk(p, q), 0.25 * std::log(2.0), 1e-6);
  EXPECT_FALSE(top1_agrees(p, q));
}

TEST(TopK, KlSpreadsRestMass) {
  // ref lists token 0 (0.6) and token 1 (0.3); quant lists token 0 (0.6) and token 2 (0.2),
  // rest 0.2 over 10 - 2 = 8 tokens, so q(1) = 0.025. Buckets: p 0.1, q 1 - 0.625 = 0.375.
  TopKRecord ref{{{0, static_cast<float>(std::log(0.6))}, {1, static_cast<float>(std::log(0.3))}}, 0.1f, 10};
  TopKRecord quant{{{0, static_cast<float>(std::log(0.6))}, {2, static_cast<float>(std::log(0.2))}}, 0.2f, 10};
  const double expected = 0.3 * std::log(0.3 / 0.025) + 0.1 * std::log(0.1 / 0.375);
  EXPECT_NEAR(kl_divergence_topk(ref, quant), expected, 1e-6);
  EXPECT_TRUE(top1_agrees(ref, quant));
}

TEST(TopK, EmptyRecordsRejected) {
  const TopKRecord empty;
  const TopKRecord one = full_record({1.0});
  EXPECT_THROW(kl_divergence_topk(empty, one), Error);
  EXPECT_THROW(top1_agrees(one, empty), Error);
}

}  // namespace
}  // namespace qrag::experiment
