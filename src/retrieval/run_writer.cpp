// TREC run and JSON Lines writers for rankings.
#include "retrieval/run_writer.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/error.h"

namespace qrag::retrieval {
namespace {

void check_trec_field(std::string_view field_name, std::string_view value) {
  if (value.empty()) throw Error("TREC run: " + std::string(field_name) + " is empty");
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      throw Error("TREC run: " + std::string(field_name) + " '" + std::string(value) +
                  "' contains whitespace, which would split the run line; use ids without spaces");
    }
  }
}

const Document& document_at(std::span<const Document> docs, const Ranked& item) {
  QRAG_CHECK(item.index < docs.size(), "ranking index beyond the profile");
  return docs[item.index];
}

}  // namespace

void write_trec(std::ostream& out, std::string_view query_id, std::span<const Document> docs,
                const RankResult& result, std::string_view tag) {
  check_trec_field("query id", query_id);
  check_trec_field("run tag", tag);
  for (std::size_t r = 0; r < result.ranking.size(); ++r) {
    const Document& doc = document_at(docs, result.ranking[r]);
    check_trec_field("document id", doc.id);
    out << fmt::format("{} Q0 {} {} {:.17g} {}\n", query_id, doc.id, r + 1, result.ranking[r].score, tag);
  }
  if (!out) throw Error("TREC run: write failed for query " + std::string(query_id));
}

std::string to_json(std::string_view query_id, std::span<const Document> docs, const RankResult& result,
                    std::string_view tag) {
  nlohmann::json ranking = nlohmann::json::array();
  for (std::size_t r = 0; r < result.ranking.size(); ++r) {
    const Ranked& item = result.ranking[r];
    ranking.push_back({{"rank", r + 1},
                       {"index", item.index},
                       {"doc_id", document_at(docs, item).id},
                       {"score", item.score}});
  }
  const nlohmann::json record = {{"qid", query_id},
                                 {"tag", tag},
                                 {"requested_k", result.requested_k},
                                 {"n_documents", result.n_documents},
                                 {"k_clipped", result.k_clipped()},
                                 {"n_empty_documents", result.n_empty_documents},
                                 {"empty_query", result.empty_query},
                                 {"ranking", std::move(ranking)}};
  // Invalid UTF-8 in ids is replaced (U+FFFD) instead of throwing mid-run.
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write_jsonl(std::ostream& out, std::string_view query_id, std::span<const Document> docs,
                 const RankResult& result, std::string_view tag) {
  out << to_json(query_id, docs, result, tag) << '\n';
  if (!out) throw Error("JSON run: write failed for query " + std::string(query_id));
}

}  // namespace qrag::retrieval
