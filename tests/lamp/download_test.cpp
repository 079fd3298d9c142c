// Tests of the LaMP download layout, URL parsing and SHA-256, without any network.
#include "lamp/download.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "lamp/task.h"

namespace qrag::lamp {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.message();
  }
  return "(no error)";
}

TEST(LampFiles, UserBasedDevHasQuestionsAndOutputs) {
  const auto files = lamp_files(TaskId::kLamp3, LampSplit::kDev, false, kLampBaseUrl);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].name, "dev_questions.json");
  EXPECT_EQ(files[0].url, "https://ciir.cs.umass.edu/downloads/LaMP/LaMP_3/dev/dev_questions.json");
  EXPECT_FALSE(files[0].outputs);
  EXPECT_EQ(files[1].name, "dev_outputs.json");
  EXPECT_EQ(files[1].url, "https://ciir.cs.umass.edu/downloads/LaMP/LaMP_3/dev/dev_outputs.json");
  EXPECT_TRUE(files[1].outputs);
}

TEST(LampFiles, TimeBasedAddsTimeFolder) {
  const auto files = lamp_files(TaskId::kLamp5, LampSplit::kTrain, true, kLampBaseUrl);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].url, "https://ciir.cs.umass.edu/downloads/LaMP/time/LaMP_5/train/train_questions.json");
  EXPECT_EQ(files[1].url, "https://ciir.cs.umass.edu/downloads/LaMP/time/LaMP_5/train/train_outputs.json");
}

TEST(LampFiles, Lamp2VersionsUseTheirFolders) {
  const auto movies = lamp_files(TaskId::kLamp2Movies, LampSplit::kDev, false, kLampBaseUrl);
  EXPECT_EQ(movies[0].url, "https://ciir.cs.umass.edu/downloads/LaMP/LaMP_2/new/dev/dev_questions.json");
  const auto movies_time = lamp_files(TaskId::kLamp2Movies, LampSplit::kDev, true, kLampBaseUrl);
  EXPECT_EQ(movies_time[0].url,
            "https://ciir.cs.umass.edu/downloads/LaMP/time/LaMP_2/new/dev/dev_questions.json");
  const auto news = lamp_files(TaskId::kLamp2News, LampSplit::kDev, false, kLampBaseUrl);
  EXPECT_EQ(news[0].url, "https://ciir.cs.umass.edu/downloads/LaMP/LaMP_2/dev/dev_questions.json");
}

TEST(LampFiles, TestSplitHasNoOutputs) {
  const auto files = lamp_files(TaskId::kLamp1, LampSplit::kTest, false, kLampBaseUrl);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].url, "https://ciir.cs.umass.edu/downloads/LaMP/LaMP_1/test/test_questions.json");
}

TEST(LampFiles, Lamp6HasNoOutputs) {
  const auto files = lamp_files(TaskId::kLamp6, LampSplit::kDev, false, kLampBaseUrl);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].name, "dev_questions.json");
}

TEST(LampFiles, BaseUrlTrailingSlashIgnored) {
  const auto files = lamp_files(TaskId::kLamp7, LampSplit::kDev, false, "http://127.0.0.1:8080/mirror//");
  EXPECT_EQ(files[0].url, "http://127.0.0.1:8080/mirror/LaMP_7/dev/dev_questions.json");
}

TEST(LampFiles, LongLampRejected) {
  const std::string message =
      error_of([] { lamp_files(TaskId::kLongLampReview, LampSplit::kDev, false, kLampBaseUrl); });
  EXPECT_THAT(message, HasSubstr("LongLaMP_review"));
  EXPECT_THAT(message, HasSubstr("not published"));
}

TEST(LampFiles, InvalidBaseUrlRejected) {
  const std::string message =
      error_of([] { lamp_files(TaskId::kLamp3, LampSplit::kDev, false, "ftp://mirror/LaMP"); });
  EXPECT_THAT(message, HasSubstr("ftp://mirror/LaMP"));
  EXPECT_THAT(message, HasSubstr("not http or https"));
}

TEST(LampSplitNames, ParseAndName) {
  EXPECT_EQ(parse_lamp_split("train"), LampSplit::kTrain);
  EXPECT_EQ(parse_lamp_split("dev"), LampSplit::kDev);
  EXPECT_EQ(parse_lamp_split("test"), LampSplit::kTest);
  EXPECT_EQ(lamp_split_name(LampSplit::kDev), "dev");
  EXPECT_THAT(error_of([] { parse_lamp_split("validation"); }), HasSubstr("'validation'"));
}

TEST(ParseUrl, DefaultPorts) {
  const ParsedUrl https = parse_url("https://example.org/a/b.json?x=1");
  EXPECT_EQ(https.scheme, "https");
  EXPECT_EQ(https.host, "example.org");
  EXPECT_EQ(https.port, 443);
  EXPECT_EQ(https.path, "/a/b.json?x=1");
  const ParsedUrl http = parse_url("http://example.org");
  EXPECT_EQ(http.port, 80);
  EXPECT_EQ(http.path, "/");
}

TEST(ParseUrl, ExplicitPortAndIpv6) {
  const ParsedUrl v4 = parse_url("http://127.0.0.1:8080/LaMP");
  EXPECT_EQ(v4.host, "127.0.0.1");
  EXPECT_EQ(v4.port, 8080);
  EXPECT_EQ(v4.path, "/LaMP");
  const ParsedUrl v6 = parse_url("http://[::1]:9000/x");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 9000);
  EXPECT_EQ(parse_url("https://[::1]/x").port, 443);
}

TEST(ParseUrl, InvalidUrlsNamed) {
  struct Case {
    const char* url;
    const char* reason;
  };
  const Case cases[] = {
      {"example.org/x", "expected http://"},
      {"file:///etc/hosts", "not http or https"},
      {"http:///x", "empty host"},
      {"http://host:0/x", "port '0'"},
      {"http://host:70000/x", "port '70000'"},
      {"http://host:abc/x", "port 'abc'"},
      {"http://host:/x", "port ''"},
      {"http://user:pw@host/x", "user names and passwords"},
      {"http://[::1/x", "unclosed '['"},
  };
  for (const Case& c : cases) {
    const std::string message = error_of([&] { parse_url(c.url); });
    EXPECT_THAT(message, HasSubstr(c.url)) << c.url;
    EXPECT_THAT(message, HasSubstr(c.reason)) << c.url;
  }
}

// FIPS 180-2 example digests.
TEST(Sha256, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(PartialPath, AppendsPartSuffix) {
  EXPECT_EQ(partial_path("out/dev_questions.json"), std::filesystem::path("out/dev_questions.json.part"));
}

}  // namespace
}  // namespace qrag::lamp
