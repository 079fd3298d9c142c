// Spec-string factory: defaults, options, canonical specs and errors.
#include <gtest/gtest.h>

#include "core/error.h"
#include "retrieval/encoder.h"
#include "retrieval/retriever.h"

namespace qrag::retrieval {
namespace {

std::string error_of(std::string_view spec, const RetrieverContext& context = {}) {
  try {
    make_retriever(spec, context);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

class ConstantEncoder : public Encoder {
 public:
  EmbeddingMatrix embed(std::span<const std::string> texts) override {
    return {texts.size(), 2, std::vector<float>(texts.size() * 2, 1.0f)};
  }
  std::string model_id() const override { return "constant"; }
  std::size_t dim() const override { return 2; }
};

TEST(Factory, Bm25Defaults) {
  EXPECT_EQ(make_retriever("bm25:okapi")->spec(), "bm25:okapi?analyzer=whitespace&k1=1.5&b=0.75&epsilon=0.25");
  EXPECT_EQ(make_retriever("bm25")->spec(), "bm25:okapi?analyzer=whitespace&k1=1.5&b=0.75&epsilon=0.25");
  EXPECT_EQ(make_retriever("bm25:lucene")->spec(), "bm25:lucene?analyzer=whitespace&k1=0.9&b=0.4");
  EXPECT_EQ(make_retriever("bm25:bm25plus")->spec(), "bm25:bm25plus?analyzer=whitespace&k1=1.5&b=0.75&delta=1");
  EXPECT_EQ(make_retriever("bm25:bm25l?delta=0.25&analyzer=english")->spec(),
            "bm25:bm25l?analyzer=english&k1=1.5&b=0.75&delta=0.25");
  EXPECT_EQ(make_retriever("bm25:lucene?k1=1.2&b=0.5")->spec(), "bm25:lucene?analyzer=whitespace&k1=1.2&b=0.5");
}

TEST(Factory, Baselines) {
  EXPECT_EQ(make_retriever("recency")->spec(), "recency");
  EXPECT_EQ(make_retriever("random?seed=7")->spec(), "random?seed=7");
  EXPECT_EQ(make_retriever("random?seed=7&lamp-compat")->spec(), "random?seed=7&lamp-compat=1");
}

TEST(Factory, DenseAndHybrid) {
  RetrieverContext context;
  std::vector<std::string> loaded;
  context.load_encoder = [&](const std::string& model) {
    loaded.push_back(model);
    return std::make_shared<ConstantEncoder>();
  };
  const auto dense = make_retriever("dense:models/mini%2Clm.gguf?similarity=cosine&query_prefix=query:%20", context);
  EXPECT_EQ(loaded, (std::vector<std::string>{"models/mini,lm.gguf"}));
  EXPECT_EQ(dense->spec(), "dense:models/mini%2Clm.gguf?similarity=cosine&query_prefix=query:%20");
  const auto hybrid = make_retriever("hybrid:rrf(bm25:okapi,dense:m?query_model=q)", context);
  EXPECT_EQ(loaded.back(), "q");
  EXPECT_EQ(hybrid->spec(),
            "hybrid:rrf(bm25:okapi?analyzer=whitespace&k1=1.5&b=0.75&epsilon=0.25,dense:m?similarity=dot&query_model=q)?k=60");
  EXPECT_EQ(make_retriever("hybrid:weighted(recency,random?seed=1)?weights=0.7,0.3")->spec(),
            "hybrid:weighted(recency,random?seed=1)?weights=0.7,0.3");
  // A canonical spec parses back to itself.
  EXPECT_EQ(make_retriever(hybrid->spec(), context)->spec(), hybrid->spec());
}

TEST(Factory, Errors) {
  EXPECT_NE(error_of("bm25:okapii").find("unknown BM25 variant 'okapii'"), std::string::npos);
  EXPECT_NE(error_of("bm25:okapi?k2=1").find("unknown option 'k2'"), std::string::npos);
  EXPECT_NE(error_of("bm25:okapi?k1=abc").find("not a number"), std::string::npos);
  EXPECT_NE(error_of("bm25:okapi?b=2").find("[0, 1]"), std::string::npos);
  EXPECT_NE(error_of("bm25:okapi?k1=1&k1=2").find("twice"), std::string::npos);
  EXPECT_NE(error_of("bm25:okapi?analyzer=porter").find("porter"), std::string::npos);
  EXPECT_NE(error_of("tfidf").find("unknown retriever family 'tfidf'"), std::string::npos);
  EXPECT_NE(error_of("dense:m").find("encoder loader"), std::string::npos);
  EXPECT_NE(error_of("hybrid:rrf(bm25").find("unbalanced"), std::string::npos);
  EXPECT_NE(error_of("hybrid:max(bm25,recency)").find("rrf or weighted"), std::string::npos);
  EXPECT_NE(error_of("hybrid:rrf(bm25)").find("at least two"), std::string::npos);
  EXPECT_NE(error_of("hybrid:weighted(bm25,recency)?weights=1").find("1 values for 2"), std::string::npos);
  EXPECT_NE(error_of("random?seed=-1").find("non-negative"), std::string::npos);
  EXPECT_NE(error_of("random?lamp-compat=maybe").find("boolean"), std::string::npos);
  EXPECT_NE(error_of("dense:a%2").find("percent"), std::string::npos);
  // Every message starts with the spec it came from.
  EXPECT_EQ(error_of("tfidf").rfind("retriever spec 'tfidf'", 0), 0U);
}

}  // namespace
}  // namespace qrag::retrieval
