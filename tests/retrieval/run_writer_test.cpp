// TREC and JSON Lines run writers, and edge cases every retriever reports the same way.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "retrieval/run_writer.h"

namespace qrag::retrieval {
namespace {

const std::vector<Document> kDocs = {{"d0", "red apple", {}}, {"d1", "", {}}, {"d2", "green apple pie", {}}};

TEST(RunWriter, TrecLines) {
  auto retriever = make_retriever("bm25:okapi");
  const RankResult result = retriever->rank("apple pie", kDocs, 2);
  std::ostringstream out;
  write_trec(out, "q1", kDocs, result, "bm25");
  std::istringstream lines(out.str());
  std::string qid, q0, doc_id, tag;
  int rank = 0;
  double score = 0;
  lines >> qid >> q0 >> doc_id >> rank >> score >> tag;
  EXPECT_EQ(qid, "q1");
  EXPECT_EQ(q0, "Q0");
  EXPECT_EQ(doc_id, "d2");
  EXPECT_EQ(rank, 1);
  EXPECT_EQ(score, result.ranking[0].score);
  EXPECT_EQ(tag, "bm25");
  lines >> qid >> q0 >> doc_id >> rank;
  EXPECT_EQ(doc_id, "d0");
  EXPECT_EQ(rank, 2);
  EXPECT_THROW(write_trec(out, "q 1", kDocs, result, "bm25"), Error);
  EXPECT_THROW(write_trec(out, "q1", kDocs, result, ""), Error);
}

TEST(RunWriter, JsonRecord) {
  auto retriever = make_retriever("bm25:okapi");
  const RankResult result = retriever->rank("apple", kDocs, 5);
  const auto json = nlohmann::json::parse(to_json("q1", kDocs, result, "bm25:okapi"));
  EXPECT_EQ(json.at("qid"), "q1");
  EXPECT_EQ(json.at("requested_k"), 5);
  EXPECT_EQ(json.at("n_documents"), 3);
  EXPECT_EQ(json.at("k_clipped"), true);
  EXPECT_EQ(json.at("n_empty_documents"), 1);
  EXPECT_EQ(json.at("empty_query"), false);
  ASSERT_EQ(json.at("ranking").size(), 3U);
  EXPECT_EQ(json.at("ranking")[0].at("rank"), 1);
  EXPECT_EQ(json.at("ranking")[0].at("doc_id"), "d0");  // shorter document wins the tie on tf
  EXPECT_EQ(json.at("ranking")[2].at("doc_id"), "d1");
  std::ostringstream out;
  write_jsonl(out, "q1", kDocs, result, "t");
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(EdgeCases, EveryRetrieverHandlesEmptyInputs) {
  const std::vector<Document> blank = {{"a", "", "2020"}, {"b", "", std::nullopt}};
  for (const char* spec : {"bm25:okapi", "bm25:lucene", "bm25:bm25plus", "bm25:bm25l?analyzer=english", "recency",
                           "random?seed=3", "random?lamp-compat", "hybrid:rrf(bm25:okapi,recency)"}) {
    SCOPED_TRACE(spec);
    auto retriever = make_retriever(spec);
    const RankResult empty = retriever->rank("query", {}, 5);
    EXPECT_TRUE(empty.ranking.empty());
    EXPECT_TRUE(empty.empty_profile());
    EXPECT_TRUE(empty.k_clipped());
    const RankResult result = retriever->rank("", blank, 10);
    EXPECT_EQ(result.ranking.size(), 2U);
    EXPECT_EQ(result.n_empty_documents, 2U);
    EXPECT_EQ(result.requested_k, 10U);
    EXPECT_TRUE(retriever->rank("query", blank, 0).ranking.empty());
  }
  const RankResult bm25 = make_retriever("bm25:okapi")->rank("", blank, 2);
  EXPECT_TRUE(bm25.empty_query);
  EXPECT_EQ(bm25.ranking[0].index, 0U);  // all scores 0: profile order
}

}  // namespace
}  // namespace qrag::retrieval
