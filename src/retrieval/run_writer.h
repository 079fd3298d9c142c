// Writers for rankings: TREC run lines and JSON Lines records.
#pragma once

#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "retrieval/retriever.h"

namespace qrag::retrieval {

// Writes one query's ranking as TREC run lines "qid Q0 docid rank score tag" (rank from 1,
// score with 17 significant digits). Throws qrag::Error when an id or the tag is empty or
// contains whitespace, because a TREC run is split on whitespace.
void write_trec(std::ostream& out, std::string_view query_id, std::span<const Document> docs,
                const RankResult& result, std::string_view tag);

// One query's ranking as a single-line JSON object:
// {"qid", "tag", "requested_k", "n_documents", "k_clipped", "n_empty_documents",
//  "empty_query", "ranking": [{"rank", "index", "doc_id", "score"}...]}.
std::string to_json(std::string_view query_id, std::span<const Document> docs, const RankResult& result,
                    std::string_view tag);

// Writes to_json(...) and a newline (JSON Lines).
void write_jsonl(std::ostream& out, std::string_view query_id, std::span<const Document> docs,
                 const RankResult& result, std::string_view tag);

}  // namespace qrag::retrieval
