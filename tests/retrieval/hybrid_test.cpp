// Hybrid fusion: reciprocal-rank fusion and weighted min-max fusion on hand-computed cases.
#include <gtest/gtest.h>

#include "core/error.h"
#include "retrieval/hybrid.h"

namespace qrag::retrieval {
namespace {

// Returns fixed scores for a profile of any size (index i gets scores[i]).
class FixedRetriever : public Retriever {
 public:
  explicit FixedRetriever(std::vector<double> scores) : scores_(std::move(scores)) {}
  RankResult rank(std::string_view, std::span<const Document> docs, std::size_t k) override {
    RankResult result;
    result.requested_k = k;
    result.n_documents = docs.size();
    result.ranking = top_k(std::span<const double>(scores_).first(docs.size()), k);
    return result;
  }
  std::string spec() const override { return "fixed"; }

 private:
  std::vector<double> scores_;
};

std::vector<std::unique_ptr<Retriever>> components(std::vector<double> a, std::vector<double> b) {
  std::vector<std::unique_ptr<Retriever>> out;
  out.push_back(std::make_unique<FixedRetriever>(std::move(a)));
  out.push_back(std::make_unique<FixedRetriever>(std::move(b)));
  return out;
}

const std::vector<Document> kDocs = {{"0", "", {}}, {"1", "", {}}, {"2", "", {}}, {"3", "", {}}};

TEST(Hybrid, ReciprocalRankFusion) {
  // Ranks: A = 2,0,1,3 ; B = 1,2,3,0.
  HybridRetriever hybrid(FusionMethod::kRrf, components({3, 1, 4, 0}, {0, 9, 8, 5}), {}, 60.0);
  const RankResult result = hybrid.rank("q", kDocs, 4);
  ASSERT_EQ(result.ranking.size(), 4U);
  EXPECT_EQ(result.ranking[0].index, 2U);  // 1/61 + 1/62
  EXPECT_DOUBLE_EQ(result.ranking[0].score, 1.0 / 61 + 1.0 / 62);
  EXPECT_EQ(result.ranking[1].index, 1U);  // 1/63 + 1/61
  EXPECT_DOUBLE_EQ(result.ranking[1].score, 1.0 / 63 + 1.0 / 61);
  EXPECT_EQ(result.ranking[2].index, 0U);  // 1/62 + 1/64
  EXPECT_EQ(result.ranking[3].index, 3U);  // 1/64 + 1/63
}

TEST(Hybrid, WeightedMinMax) {
  HybridRetriever hybrid(FusionMethod::kWeighted, components({0, 10, 5, 10}, {4, 2, 3, 0}), {0.25, 0.75});
  const RankResult result = hybrid.rank("q", kDocs, 2);
  // Normalised A = 0, 1, .5, 1 ; B = 1, .5, .75, 0 ; fused = .75, .625, .6875, .25.
  ASSERT_EQ(result.ranking.size(), 2U);
  EXPECT_EQ(result.ranking[0].index, 0U);
  EXPECT_DOUBLE_EQ(result.ranking[0].score, 0.75);
  EXPECT_EQ(result.ranking[1].index, 2U);
  EXPECT_DOUBLE_EQ(result.ranking[1].score, 0.25 * 0.5 + 0.75 * 0.75);
}

TEST(Hybrid, ConstantComponentAndTies) {
  HybridRetriever hybrid(FusionMethod::kWeighted, components({1, 1, 1, 1}, {0, 0, 0, 0}), {});
  const RankResult result = hybrid.rank("q", kDocs, 4);
  for (std::size_t r = 0; r < 4; ++r) {
    EXPECT_EQ(result.ranking[r].index, r);
    EXPECT_EQ(result.ranking[r].score, 0.0);
  }
  EXPECT_TRUE(hybrid.rank("q", {}, 3).ranking.empty());
}

TEST(Hybrid, WeightCountMustMatch) {
  EXPECT_THROW(HybridRetriever(FusionMethod::kWeighted, components({1}, {1}), {1.0}), Error);
}

}  // namespace
}  // namespace qrag::retrieval
