// Analyzer tests: Python-compatible whitespace splitting, simple, english and characters.
#include <gtest/gtest.h>

#include "core/error.h"
#include "retrieval/analyzer.h"

namespace qrag::retrieval {
namespace {

using Terms = std::vector<std::string>;

TEST(Analyzer, WhitespaceKeepsCaseAndPunctuation) {
  Analyzer analyzer(AnalyzerKind::kWhitespace);
  EXPECT_EQ(analyzer.analyze("  The cat's\tHAT,\n on  "), (Terms{"The", "cat's", "HAT,", "on"}));
  EXPECT_TRUE(analyzer.analyze("").empty());
  EXPECT_TRUE(analyzer.analyze(" \t\n ").empty());
}

TEST(Analyzer, WhitespaceSplitsOnPythonUnicodeSpaces) {
  Analyzer analyzer(AnalyzerKind::kWhitespace);
  // U+00A0 no-break space, U+3000 ideographic space and U+2009 thin space split in
  // str.split(); U+200B zero-width space does not.
  EXPECT_EQ(analyzer.analyze("a\u00A0b\u3000c\u2009d\u200Be"), (Terms{"a", "b", "c", "d\u200Be"}));
  EXPECT_EQ(analyzer.analyze("x\x1Fy\x1Cz"), (Terms{"x", "y", "z"}));
}

TEST(Analyzer, SimpleLowercasesAndSplits) {
  Analyzer analyzer(AnalyzerKind::kSimple);
  EXPECT_EQ(analyzer.analyze("Hello, WORLD! It's 2024: Ünïcode-Straße"),
            (Terms{"hello", "world", "it", "s", "2024", "ünïcode", "straße"}));
}

TEST(Analyzer, EnglishStemsAndDropsStopwords) {
  Analyzer analyzer(AnalyzerKind::kEnglish);
  EXPECT_EQ(analyzer.analyze("The runners were running into the generously sized rooms"),
            (Terms{"runner", "were", "run", "generous", "size", "room"}));
}

TEST(Analyzer, CharactersAreCodePoints) {
  Analyzer analyzer(AnalyzerKind::kCharacters);
  EXPECT_EQ(analyzer.analyze("aé b"), (Terms{"a", "é", " ", "b"}));
  // An invalid byte becomes its own one-byte term instead of being dropped.
  EXPECT_EQ(analyzer.analyze("a\xFF"), (Terms{"a", "\xFF"}));
}

TEST(Analyzer, ParseNames) {
  EXPECT_EQ(parse_analyzer("english"), AnalyzerKind::kEnglish);
  EXPECT_EQ(analyzer_name(AnalyzerKind::kCharacters), "characters");
  EXPECT_THROW(parse_analyzer("porter"), Error);
}

}  // namespace
}  // namespace qrag::retrieval
