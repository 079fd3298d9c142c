// Parses retriever spec strings ("bm25:okapi?k1=1.2", "hybrid:rrf(a,b)") and builds retrievers.
#include <charconv>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "core/error.h"
#include "retrieval/baselines.h"
#include "retrieval/bm25.h"
#include "retrieval/dense.h"
#include "retrieval/hybrid.h"
#include "retrieval/retriever.h"

namespace qrag::retrieval {
namespace {

// A spec split into its parts; `children` is filled only for hybrid specs.
struct ParsedSpec {
  std::string family;
  std::string variant;
  std::vector<std::string> children;
  std::map<std::string, std::string> options;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      throw Error("invalid percent escape at '" + std::string(text.substr(i)) + "': expected %XX with two hex digits");
    }
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

std::map<std::string, std::string> parse_options(std::string_view text) {
  std::map<std::string, std::string> options;
  std::size_t pos = 0;
  while (pos <= text.size() && !text.empty()) {
    const std::size_t end = std::min(text.find('&', pos), text.size());
    const std::string_view item = text.substr(pos, end - pos);
    if (item.empty()) throw Error("empty option between '&' separators");
    const std::size_t eq = item.find('=');
    // A bare key ("lamp-compat") means key=1.
    std::string key(item.substr(0, eq));
    if (key.empty()) throw Error("option '" + std::string(item) + "' has no key");
    std::string value = eq == std::string_view::npos ? "1" : percent_decode(item.substr(eq + 1));
    if (!options.emplace(key, std::move(value)).second) throw Error("option '" + key + "' is given twice");
    pos = end + 1;
  }
  return options;
}

// Splits "a,b(c,d),e" at commas outside parentheses.
std::vector<std::string> split_top_level(std::string_view text) {
  std::vector<std::string> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ',';
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.emplace_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

ParsedSpec parse_hybrid(std::string_view rest) {
  ParsedSpec parsed;
  parsed.family = "hybrid";
  const std::size_t open = rest.find('(');
  if (open == std::string_view::npos) throw Error("hybrid spec needs '(' after the method, e.g. hybrid:rrf(a,b)");
  parsed.variant = std::string(rest.substr(0, open));
  int depth = 0;
  std::size_t close = std::string_view::npos;
  for (std::size_t i = open; i < rest.size(); ++i) {
    if (rest[i] == '(') ++depth;
    if (rest[i] == ')' && --depth == 0) {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) throw Error("hybrid spec has an unbalanced '('");
  parsed.children = split_top_level(rest.substr(open + 1, close - open - 1));
  const std::string_view tail = rest.substr(close + 1);
  if (!tail.empty()) {
    if (tail.front() != '?') throw Error("unexpected '" + std::string(tail) + "' after the hybrid component list");
    parsed.options = parse_options(tail.substr(1));
  }
  return parsed;
}

ParsedSpec parse_spec(std::string_view spec) {
  if (spec.starts_with("hybrid:")) return parse_hybrid(spec.substr(7));
  ParsedSpec parsed;
  const std::size_t question = std::min(spec.find('?'), spec.size());
  const std::string_view head = spec.substr(0, question);
  const std::size_t colon = head.find(':');
  parsed.family = std::string(head.substr(0, colon));
  if (colon != std::string_view::npos) parsed.variant = percent_decode(head.substr(colon + 1));
  if (question < spec.size()) parsed.options = parse_options(spec.substr(question + 1));
  return parsed;
}

// Removes and returns option `key`, or nullopt.
std::optional<std::string> take(ParsedSpec& parsed, const std::string& key) {
  const auto it = parsed.options.find(key);
  if (it == parsed.options.end()) return std::nullopt;
  std::string value = std::move(it->second);
  parsed.options.erase(it);
  return value;
}

double parse_double(const std::string& key, const std::string& value) {
  double out = 0.0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw Error("option " + key + "='" + value + "' is not a number");
  }
  return out;
}

std::uint64_t parse_unsigned(const std::string& key, const std::string& value) {
  std::uint64_t out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw Error("option " + key + "='" + value + "' is not a non-negative integer");
  }
  return out;
}

bool parse_bool(const std::string& key, const std::string& value) {
  if (value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  throw Error("option " + key + "='" + value + "' is not a boolean: use 1, 0, true or false");
}

void reject_leftovers(const ParsedSpec& parsed, std::string_view accepted) {
  if (parsed.options.empty()) return;
  throw Error("unknown option '" + parsed.options.begin()->first + "' for " + parsed.family +
              " (accepted: " + std::string(accepted) + ")");
}

std::unique_ptr<Retriever> make_bm25(ParsedSpec& parsed) {
  Bm25Params params = Bm25Params::defaults_for(parse_bm25_variant(parsed.variant.empty() ? "okapi" : parsed.variant));
  AnalyzerKind analyzer = AnalyzerKind::kWhitespace;
  if (auto v = take(parsed, "analyzer")) analyzer = parse_analyzer(*v);
  if (auto v = take(parsed, "k1")) params.k1 = parse_double("k1", *v);
  if (auto v = take(parsed, "b")) params.b = parse_double("b", *v);
  if (auto v = take(parsed, "delta")) params.delta = parse_double("delta", *v);
  if (auto v = take(parsed, "epsilon")) params.epsilon = parse_double("epsilon", *v);
  reject_leftovers(parsed, "analyzer, k1, b, delta, epsilon");
  return std::make_unique<Bm25Retriever>(params, analyzer);
}

std::unique_ptr<Retriever> make_dense(ParsedSpec& parsed, const RetrieverContext& context) {
  if (parsed.variant.empty()) throw Error("dense spec needs a model, e.g. dense:models/minilm.gguf");
  if (!context.load_encoder) {
    throw Error("dense retriever '" + parsed.variant + "' needs an encoder loader, but none was configured");
  }
  DenseOptions options;
  options.model_name = parsed.variant;
  if (auto v = take(parsed, "similarity")) {
    if (*v == "dot") {
      options.similarity = Similarity::kDot;
    } else if (*v == "cosine") {
      options.similarity = Similarity::kCosine;
    } else {
      throw Error("option similarity='" + *v + "' is invalid: expected dot or cosine");
    }
  }
  if (auto v = take(parsed, "query_prefix")) options.query_prefix = *v;
  if (auto v = take(parsed, "doc_prefix")) options.doc_prefix = *v;
  if (auto v = take(parsed, "batch")) options.batch_size = parse_unsigned("batch", *v);
  if (options.batch_size == 0) throw Error("option batch=0 is invalid: it must be >= 1");
  if (auto v = take(parsed, "query_model")) options.query_model_name = *v;
  reject_leftovers(parsed, "similarity, query_prefix, doc_prefix, batch, query_model");

  auto doc_encoder = context.load_encoder(options.model_name);
  if (!doc_encoder) throw Error("encoder loader returned nothing for model '" + options.model_name + "'");
  std::shared_ptr<Encoder> query_encoder;
  if (!options.query_model_name.empty()) {
    query_encoder = context.load_encoder(options.query_model_name);
    if (!query_encoder) throw Error("encoder loader returned nothing for model '" + options.query_model_name + "'");
  }
  return std::make_unique<DenseRetriever>(std::move(doc_encoder), std::move(query_encoder), context.cache, options);
}

std::unique_ptr<Retriever> make_hybrid(ParsedSpec& parsed, const RetrieverContext& context) {
  FusionMethod method;
  if (parsed.variant == "rrf") {
    method = FusionMethod::kRrf;
  } else if (parsed.variant == "weighted") {
    method = FusionMethod::kWeighted;
  } else {
    throw Error("unknown hybrid method '" + parsed.variant + "': expected rrf or weighted");
  }
  if (parsed.children.size() < 2) throw Error("hybrid spec needs at least two component retrievers");
  std::vector<std::unique_ptr<Retriever>> components;
  for (const std::string& child : parsed.children) components.push_back(make_retriever(child, context));
  double rrf_k = 60.0;
  std::vector<double> weights;
  if (method == FusionMethod::kRrf) {
    if (auto v = take(parsed, "k")) rrf_k = parse_double("k", *v);
    if (!(rrf_k >= 0.0)) throw Error("option k must be >= 0 for rrf");
    reject_leftovers(parsed, "k");
  } else {
    if (auto v = take(parsed, "weights")) {
      for (const std::string& item : split_top_level(*v)) weights.push_back(parse_double("weights", item));
      if (weights.size() != components.size()) {
        throw Error(fmt::format("option weights has {} values for {} components", weights.size(), components.size()));
      }
    }
    reject_leftovers(parsed, "weights");
  }
  return std::make_unique<HybridRetriever>(method, std::move(components), std::move(weights), rrf_k);
}

std::unique_ptr<Retriever> make_from_parsed(ParsedSpec& parsed, const RetrieverContext& context) {
  if (parsed.family == "bm25") return make_bm25(parsed);
  if (parsed.family == "dense") return make_dense(parsed, context);
  if (parsed.family == "hybrid") return make_hybrid(parsed, context);
  if (parsed.family == "recency") {
    if (!parsed.variant.empty()) throw Error("recency takes no variant, got '" + parsed.variant + "'");
    reject_leftovers(parsed, "none");
    return std::make_unique<RecencyRetriever>();
  }
  if (parsed.family == "random") {
    if (!parsed.variant.empty()) throw Error("random takes no variant, got '" + parsed.variant + "'");
    std::uint64_t seed = 0;
    bool lamp_compat = false;
    if (auto v = take(parsed, "seed")) seed = parse_unsigned("seed", *v);
    if (auto v = take(parsed, "lamp-compat")) lamp_compat = parse_bool("lamp-compat", *v);
    reject_leftovers(parsed, "seed, lamp-compat");
    return std::make_unique<RandomRetriever>(seed, lamp_compat);
  }
  throw Error("unknown retriever family '" + parsed.family + "': expected bm25, dense, recency, random or hybrid");
}

}  // namespace

std::string percent_encode(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool reserved = byte <= 0x20 || byte == 0x7F || c == '%' || c == '&' || c == '?' || c == '=' ||
                          c == ',' || c == '(' || c == ')';
    if (reserved) {
      out += fmt::format("%{:02X}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

std::unique_ptr<Retriever> make_retriever(std::string_view spec, const RetrieverContext& context) {
  return with_context("retriever spec '" + std::string(spec) + "'", [&] {
    ParsedSpec parsed = parse_spec(spec);
    return make_from_parsed(parsed, context);
  });
}

}  // namespace qrag::retrieval
