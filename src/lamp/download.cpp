// Download of the official LaMP files: URL layout, resumable HTTP(S) transfer and SHA-256.
#include "lamp/download.h"

#include <fmt/core.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "core/error.h"

namespace qrag::lamp {
namespace fs = std::filesystem;

namespace {

// The folder of a task below the base URL (and below "time/" for time-based splits).
std::string_view task_folder(TaskId task) {
  switch (task) {
    case TaskId::kLamp1:
      return "LaMP_1";
    case TaskId::kLamp2Movies:
      return "LaMP_2/new";
    case TaskId::kLamp2News:
      return "LaMP_2";
    case TaskId::kLamp3:
      return "LaMP_3";
    case TaskId::kLamp4:
      return "LaMP_4";
    case TaskId::kLamp5:
      return "LaMP_5";
    case TaskId::kLamp6:
      return "LaMP_6";
    case TaskId::kLamp7:
      return "LaMP_7";
    case TaskId::kLongLampAbstract:
    case TaskId::kLongLampReview:
    case TaskId::kLongLampTopic:
      break;
  }
  throw Error(
      fmt::format("task {} is not published at the LaMP download location; get the LongLaMP files "
                  "from the LongLaMP release and pass them with --questions",
                  task_info(task).name));
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Content-Range of a 206 or 416 response: "bytes START-END/TOTAL" or "bytes */TOTAL".
// TOTAL may be "*" (unknown), stored as 0.
struct ContentRange {
  std::optional<std::uint64_t> start;  // absent for "*/TOTAL"
  std::uint64_t total = 0;
};

std::optional<ContentRange> parse_content_range(std::string_view value) {
  constexpr std::string_view kUnit = "bytes ";
  if (!value.starts_with(kUnit)) return std::nullopt;
  value.remove_prefix(kUnit.size());
  const std::size_t slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ContentRange range;
  const std::string_view span = value.substr(0, slash);
  const std::string_view total = value.substr(slash + 1);
  if (total != "*") {
    const auto parsed = parse_u64(total);
    if (!parsed) return std::nullopt;
    range.total = *parsed;
  }
  if (span != "*") {
    const auto start = parse_u64(span.substr(0, span.find('-')));
    if (!start) return std::nullopt;
    range.start = *start;
  }
  return range;
}

std::string to_hex(const unsigned char* bytes, unsigned int size) {
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) hex += fmt::format("{:02x}", bytes[i]);
  return hex;
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

std::uint64_t size_or_zero(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  return error ? 0 : size;
}

// Outcome of one HTTP request.
enum class AttemptStatus {
  kComplete,  // the partial file contains the whole body
  kRetry,     // transfer broke off (connection, read, short body); resume on the next try
};

// One GET of `url` that appends to (or restarts) the partial file. Throws qrag::Error for
// outcomes a retry cannot fix: an HTTP error status, a body longer than announced, a
// write failure.
class Attempt {
 public:
  Attempt(const std::string& url, const ParsedUrl& parsed, const fs::path& partial,
          const DownloadOptions& options)
      : url_(url), parsed_(parsed), partial_(partial), options_(options) {}

  // Why the last kRetry happened, for the final error message.
  const std::string& failure() const { return failure_; }

  AttemptStatus run(httplib::Client& client, DownloadResult& result) {
    offset_ = size_or_zero(partial_);
    httplib::Headers headers = {{"Accept-Encoding", "identity"}};
    if (offset_ > 0) {
      headers.emplace("Range", fmt::format("bytes={}-", offset_));
      spdlog::info("resuming {} at byte {}", url_, offset_);
    }
    const httplib::Result response = client.Get(
        parsed_.path, headers, [this](const httplib::Response& r) { return on_response(r); },
        [this](const char* data, std::size_t length) { return on_content(data, length); });
    result.resumed_from = offset_;  // 0 when the server sent the whole file again
    if (file_ && std::fflush(file_.get()) != 0)
      throw Error(fmt::format("failed to write {}", partial_.string()));
    file_.reset();
    if (fatal_) throw Error(*fatal_);
    if (range_complete_) return AttemptStatus::kComplete;
    if (restart_) return AttemptStatus::kRetry;
    if (!response) {
      if (response.error() == httplib::Error::SSLServerVerification) {
        throw Error(
            fmt::format("{}: TLS certificate verification failed; install the ca-certificates package "
                        "or use a mirror with --base-url",
                        url_));
      }
      failure_ = fmt::format("{} error after {} bytes on disk", httplib::to_string(response.error()),
                             offset_ + received_);
      spdlog::warn("{}: transfer failed: {}", url_, failure_);
      return AttemptStatus::kRetry;
    }
    return check_length();
  }

 private:
  bool on_response(const httplib::Response& response) {
    status_ = response.status;
    const std::string encoding = response.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity") {
      fatal_ = fmt::format("{}: server sent Content-Encoding '{}' although identity was requested", url_,
                           encoding);
      return false;
    }
    if (status_ == 416 && offset_ > 0) return on_range_not_satisfiable(response);
    if (status_ == 206) {
      const auto range = parse_content_range(response.get_header_value("Content-Range"));
      if (!range || range->start != offset_) {
        spdlog::warn("{}: 206 response with Content-Range '{}' does not start at byte {}; restarting", url_,
                     response.get_header_value("Content-Range"), offset_);
        fs::remove(partial_);
        restart_ = true;
        return false;
      }
      expected_total_ = range->total;
      return open_partial("ab");
    }
    if (status_ == 200) {
      if (offset_ > 0) spdlog::info("{}: server ignored the Range request; downloading from the start", url_);
      offset_ = 0;
      if (response.has_header("Content-Length")) {
        expected_total_ = parse_u64(response.get_header_value("Content-Length")).value_or(0);
      }
      return open_partial("wb");
    }
    fatal_ = fmt::format("{}: HTTP status {}{}", url_, status_, status_ == 404 ? " (file not found)" : "");
    return false;
  }

  // 416 to a Range request: either the partial file already contains the whole file (a
  // previous run stopped before the rename) or it is longer than the file on the server.
  bool on_range_not_satisfiable(const httplib::Response& response) {
    const auto range = parse_content_range(response.get_header_value("Content-Range"));
    if (range && !range->start && range->total == offset_) {
      range_complete_ = true;
    } else {
      spdlog::warn("{}: the server rejected the range starting at byte {}; restarting", url_, offset_);
      fs::remove(partial_);
      restart_ = true;
    }
    return false;
  }

  bool open_partial(const char* mode) {
    file_.reset(std::fopen(partial_.c_str(), mode));
    if (!file_) {
      fatal_ = fmt::format("cannot open {} for writing", partial_.string());
      return false;
    }
    return true;
  }

  bool on_content(const char* data, std::size_t length) {
    if (std::fwrite(data, 1, length, file_.get()) != length) {
      fatal_ = fmt::format("failed to write {}", partial_.string());
      return false;
    }
    received_ += length;
    if (options_.progress) options_.progress(offset_ + received_, expected_total_);
    return true;
  }

  AttemptStatus check_length() {
    const std::uint64_t on_disk = size_or_zero(partial_);
    if (expected_total_ == 0 || on_disk == expected_total_) return AttemptStatus::kComplete;
    if (on_disk < expected_total_) {
      failure_ = fmt::format("body ended at byte {} of {}", on_disk, expected_total_);
      spdlog::warn("{}: {}", url_, failure_);
      return AttemptStatus::kRetry;
    }
    fs::remove(partial_);
    throw Error(fmt::format("{}: received {} bytes but the server announced {}; removed {}", url_, on_disk,
                            expected_total_, partial_.string()));
  }

  const std::string& url_;
  const ParsedUrl& parsed_;
  const fs::path& partial_;
  const DownloadOptions& options_;
  std::uint64_t offset_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t expected_total_ = 0;  // 0 = unknown
  int status_ = 0;
  bool restart_ = false;
  bool range_complete_ = false;
  std::optional<std::string> fatal_;
  std::string failure_ = "restarted after an unusable range response";
  FilePtr file_;
};

std::unique_ptr<httplib::Client> make_client(const std::string& url, const ParsedUrl& parsed,
                                             const DownloadOptions& options) {
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
  if (parsed.scheme == "https") {
    throw Error(
        fmt::format("{}: this qrag build has no https support (cpp-httplib without OpenSSL); "
                    "use an http mirror with --base-url or rebuild against libcpp-httplib-dev",
                    url));
  }
#endif
  const std::string host = parsed.host.find(':') != std::string::npos ? "[" + parsed.host + "]" : parsed.host;
  auto client =
      std::make_unique<httplib::Client>(fmt::format("{}://{}:{}", parsed.scheme, host, parsed.port));
  if (!client->is_valid()) throw Error(fmt::format("{}: cannot create an HTTP client for this URL", url));
  client->set_follow_location(true);
  client->set_decompress(false);
  client->set_connection_timeout(options.connect_timeout_s, 0);
  client->set_read_timeout(options.read_timeout_s, 0);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  client->enable_server_certificate_verification(true);
#endif
  return client;
}

// Flushes the partial file to disk and renames it to `destination` (atomic on POSIX).
void finish(const fs::path& partial, const fs::path& destination) {
  FilePtr file(std::fopen(partial.c_str(), "rb"));
  if (!file || ::fsync(::fileno(file.get())) != 0) {
    throw Error(fmt::format("failed to flush {} to disk", partial.string()));
  }
  file.reset();
  std::error_code error;
  fs::rename(partial, destination, error);
  if (error) {
    throw Error(
        fmt::format("cannot rename {} to {}: {}", partial.string(), destination.string(), error.message()));
  }
}

}  // namespace

LampSplit parse_lamp_split(std::string_view name) {
  if (name == "train") return LampSplit::kTrain;
  if (name == "dev") return LampSplit::kDev;
  if (name == "test") return LampSplit::kTest;
  throw Error(fmt::format("unknown split '{}': expected train, dev or test", name));
}

std::string_view lamp_split_name(LampSplit split) {
  switch (split) {
    case LampSplit::kTrain:
      return "train";
    case LampSplit::kDev:
      return "dev";
    case LampSplit::kTest:
      return "test";
  }
  return "?";
}

std::vector<LampFile> lamp_files(TaskId task, LampSplit split, bool time_based, std::string_view base_url) {
  parse_url(base_url);  // rejects a malformed base before any URL is built from it
  while (base_url.ends_with('/')) base_url.remove_suffix(1);
  const std::string_view split_name = lamp_split_name(split);
  const std::string folder = fmt::format("{}{}/{}/{}/{}_", base_url, time_based ? "/time" : "",
                                         task_folder(task), split_name, split_name);

  std::vector<LampFile> files;
  files.push_back({fmt::format("{}_questions.json", split_name), folder + "questions.json", false});
  if (split != LampSplit::kTest && task != TaskId::kLamp6) {
    files.push_back({fmt::format("{}_outputs.json", split_name), folder + "outputs.json", true});
  }
  return files;
}

ParsedUrl parse_url(std::string_view url) {
  ParsedUrl parsed;
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    throw Error(fmt::format("invalid URL '{}': expected http://HOST[:PORT]/PATH or https://...", url));
  }
  parsed.scheme = std::string(url.substr(0, scheme_end));
  if (parsed.scheme != "http" && parsed.scheme != "https") {
    throw Error(fmt::format("invalid URL '{}': scheme '{}' is not http or https", url, parsed.scheme));
  }
  std::string_view rest = url.substr(scheme_end + 3);
  const std::size_t path_at = rest.find('/');
  std::string_view authority = rest.substr(0, path_at);
  parsed.path = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  if (authority.find('@') != std::string_view::npos) {
    throw Error(fmt::format("invalid URL '{}': user names and passwords in URLs are not supported", url));
  }

  std::string_view port_text;
  if (authority.starts_with('[')) {  // IPv6 literal, e.g. [::1]:8080
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos)
      throw Error(fmt::format("invalid URL '{}': unclosed '[' in host", url));
    parsed.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':'))
      throw Error(fmt::format("invalid URL '{}': expected ':' after ']'", url));
    if (!after.empty()) port_text = after.substr(1);
  } else {
    const std::size_t colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (parsed.host.empty()) throw Error(fmt::format("invalid URL '{}': empty host", url));

  parsed.port = parsed.scheme == "https" ? 443 : 80;
  if (!port_text.empty() || authority.ends_with(':')) {
    const auto port = parse_u64(port_text);
    if (!port || *port < 1 || *port > 65535) {
      throw Error(fmt::format("invalid URL '{}': port '{}' is not a number in 1..65535", url, port_text));
    }
    parsed.port = static_cast<int>(*port);
  }
  return parsed;
}

fs::path partial_path(const fs::path& destination) {
  fs::path partial = destination;
  partial += ".part";
  return partial;
}

DownloadResult download_file(const std::string& url, const fs::path& destination,
                             const DownloadOptions& options) {
  DownloadResult result;
  result.path = destination;
  if (!options.force && fs::exists(destination)) {
    spdlog::info("{} already exists; keeping it (use --force to download again)", destination.string());
    result.skipped = true;
    result.bytes = fs::file_size(destination);
    result.sha256 = sha256_file(destination);
    return result;
  }
  if (options.max_attempts < 1)
    throw Error(fmt::format("max_attempts must be >= 1, got {}", options.max_attempts));

  const ParsedUrl parsed = parse_url(url);
  const auto client = make_client(url, parsed, options);
  const fs::path partial = partial_path(destination);
  if (destination.has_parent_path()) fs::create_directories(destination.parent_path());
  spdlog::info("downloading {} to {}", url, destination.string());

  bool complete = false;
  std::string failure;
  while (!complete) {
    if (result.attempts == options.max_attempts) {
      const std::uint64_t kept = size_or_zero(partial);
      throw Error(
          fmt::format("{}: download failed after {} attempt(s), last: {}{}", url, result.attempts, failure,
                      kept > 0 ? fmt::format("; {} bytes kept in {}, rerun to resume", kept, partial.string())
                               : std::string()));
    }
    if (result.attempts > 0 && options.retry_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options.retry_delay_ms * result.attempts));
    }
    ++result.attempts;
    Attempt attempt(url, parsed, partial, options);
    complete = attempt.run(*client, result) == AttemptStatus::kComplete;
    failure = attempt.failure();
  }

  finish(partial, destination);
  result.bytes = fs::file_size(destination);
  result.sha256 = sha256_file(destination);
  spdlog::info("wrote {} ({} bytes, {} attempt(s))", destination.string(), result.bytes, result.attempts);
  return result;
}

std::string sha256_file(const fs::path& path) {
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) throw Error(fmt::format("cannot open {} for reading", path.string()));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    throw Error("OpenSSL: cannot initialise SHA-256");
  }
  std::vector<char> buffer(1 << 20);
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    if (EVP_DigestUpdate(context.get(), buffer.data(), n) != 1) throw Error("OpenSSL: SHA-256 update failed");
  }
  if (std::ferror(file.get())) throw Error(fmt::format("failed to read {}", path.string()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_DigestFinal_ex(context.get(), digest, &digest_size) != 1)
    throw Error("OpenSSL: SHA-256 final failed");
  return to_hex(digest, digest_size);
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &digest_size, EVP_sha256(), nullptr) != 1) {
    throw Error("OpenSSL: SHA-256 failed");
  }
  return to_hex(digest, digest_size);
}

}  // namespace qrag::lamp
