// Tests of the progress reporter with an injected clock.
#include "experiment/progress.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace qrag::experiment {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  ProgressReporter::Clock function() {
    return [this] { return now; };
  }
};

TEST(Progress, LogLinesWithRateAndEta) {
  FakeClock clock;
  std::ostringstream out;
  ProgressReporter progress(out, 100, 20, ProgressReporter::Options{false, 200ms, 30s, clock.function()});
  clock.now += 10s;
  progress.advance(10, 50);  // 10 s since the start: below the 30 s log interval
  EXPECT_EQ(out.str(), "");
  clock.now += 30s;
  progress.advance(10, 50);
  // 20 new generations in 40 s = 0.5/s, 60 left -> 2m00s; 100 tokens / 40 s = 2.5 tok/s.
  EXPECT_EQ(out.str(), "progress: 40/100 (40.0%) 0.50 gen/s 2.5 tok/s ETA 2m00s\n");
  progress.finish();
  EXPECT_THAT(out.str(), HasSubstr("done: 40/100"));
}

TEST(Progress, TerminalRedrawsOneLine) {
  FakeClock clock;
  std::ostringstream out;
  ProgressReporter progress(out, 4, 0, ProgressReporter::Options{true, 200ms, 30s, clock.function()});
  clock.now += 1s;
  progress.advance(2, 0);
  EXPECT_THAT(out.str(), HasSubstr("\r[###############...............] 2/4 (50.0%)"));
  EXPECT_EQ(out.str().find('\n'), std::string::npos);
  clock.now += 1s;
  progress.advance(2, 0);
  progress.finish();
  EXPECT_THAT(out.str(), HasSubstr("4/4 (100.0%)"));
  EXPECT_THAT(out.str(), HasSubstr("ETA 0s"));
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(Progress, UnknownEtaBeforeFirstGeneration) {
  FakeClock clock;
  std::ostringstream out;
  ProgressReporter progress(out, 10, 0, ProgressReporter::Options{false, 200ms, 30s, clock.function()});
  EXPECT_THAT(progress.status(), HasSubstr("ETA ?"));
}

TEST(Progress, FormatDuration) {
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(Progress, StringStreamIsNotTerminal) {
  std::ostringstream out;
  EXPECT_FALSE(ProgressReporter::stream_is_terminal(out));
}

}  // namespace
}  // namespace qrag::experiment
