// Download of the official LaMP files: URL layout, resumable HTTP(S) transfer and SHA-256.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lamp/task.h"

namespace qrag::lamp {

// Base URL of the files the LaMP authors publish. `--base-url` replaces it for mirrors and tests.
inline constexpr std::string_view kLampBaseUrl = "https://ciir.cs.umass.edu/downloads/LaMP";

enum class LampSplit { kTrain, kDev, kTest };

// Parses "train", "dev" or "test"; throws qrag::Error naming the value otherwise.
LampSplit parse_lamp_split(std::string_view name);
std::string_view lamp_split_name(LampSplit split);

// One published file of a task and split.
struct LampFile {
  std::string name;      // official file name, e.g. "dev_questions.json"
  std::string url;       // absolute URL of the file
  bool outputs = false;  // true for the gold outputs file
};

// The published files of one task and split under `base_url` (no trailing slash needed):
//   user-based: BASE/<dir>/<split>/<split>_questions.json and <split>_outputs.json
//   time-based: BASE/time/<dir>/<split>/...
// where <dir> is "LaMP_N", except "LaMP_2/new" for the current LaMP-2 (movie tagging) and
// "LaMP_2" for the first LaMP-2 release (news categorisation). Train and dev splits have an
// outputs file; the test split has none (its golds are withheld for the leaderboard), and
// LaMP-6 has none for any split because its texts and subjects come from the licensed
// Avocado corpus. Throws qrag::Error for a LongLaMP task, which is not published there.
std::vector<LampFile> lamp_files(TaskId task, LampSplit split, bool time_based, std::string_view base_url);

// The parts of an http or https URL that the HTTP client needs.
struct ParsedUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // host name or address, without brackets for IPv6
  int port = 0;        // explicit port, or 80 / 443 by scheme
  std::string path;    // starts with '/', query string included
};

// Parses `url`. Throws qrag::Error naming the URL when the scheme is not http or https, when
// the host is empty, or when the port is not a number in 1..65535.
ParsedUrl parse_url(std::string_view url);

struct DownloadOptions {
  int max_attempts = 3;       // tries per file; each retry resumes from the partial file
  int retry_delay_ms = 1000;  // the wait before retry n is n times this
  bool force = false;         // download again even when the destination exists
  int connect_timeout_s = 30;
  int read_timeout_s = 60;  // per read, not per file
  // Called with (bytes on disk, total bytes or 0 when unknown) as data arrives; may be empty.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct DownloadResult {
  std::filesystem::path path;      // the completed file
  std::uint64_t bytes = 0;         // its size
  std::uint64_t resumed_from = 0;  // bytes kept from earlier attempts or runs by the last request
  int attempts = 0;                // HTTP requests made; 0 when the file was already present
  bool skipped = false;            // the destination existed and `force` was false
  std::string sha256;              // lower-case hex digest of the completed file
};

// The partial file a download writes before the atomic rename: DEST + ".part".
std::filesystem::path partial_path(const std::filesystem::path& destination);

// Downloads `url` to `destination`. Bytes go to partial_path(destination). A partial file
// left by an earlier run or a failed attempt is resumed with an HTTP Range request, and a
// server that responds with 200 instead of 206 sends the whole file again, which replaces
// it. When the body is complete (its length matches Content-Length or Content-Range, when
// given) the partial file is renamed to `destination`, so `destination` never contains a
// partial file. Throws qrag::Error naming the URL on an HTTP error status, on a connection
// or read failure after `max_attempts` tries, and for https when the HTTP library was built
// without TLS. The partial file is kept so that the next run resumes.
// NOTE: a resume sends no If-Range validator, so if the file changed on the server between
// two runs the result mixes both versions. Compare the printed SHA-256 with a known value.
DownloadResult download_file(const std::string& url, const std::filesystem::path& destination,
                             const DownloadOptions& options);

// SHA-256 of a file's bytes (OpenSSL libcrypto) as 64 lower-case hex digits.
std::string sha256_file(const std::filesystem::path& path);

// SHA-256 of `data` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace qrag::lamp
