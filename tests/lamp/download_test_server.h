// A loopback HTTP server for the download tests: serves byte strings by path, records Range
// headers and can break off a response after a given number of body bytes.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace qrag::testing {

class DownloadTestServer {
 public:
  // Binds 127.0.0.1 on a port the kernel picks and serves until destruction.
  DownloadTestServer() {
    server_.Get(".*", [this](const httplib::Request& request, httplib::Response& response) {
      handle(request, response);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a loopback port for the test server");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // bind_to_any_port already listens, so clients can connect now; waiting here keeps the
    // destructor's stop() from running before the accept loop has started.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  ~DownloadTestServer() {
    server_.stop();
    thread_.join();
  }

  DownloadTestServer(const DownloadTestServer&) = delete;
  DownloadTestServer& operator=(const DownloadTestServer&) = delete;

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void add_file(const std::string& path, std::string body) {
    std::lock_guard lock(mutex_);
    files_[path] = std::move(body);
  }

  // The next `times` responses for `path` close the connection after `bytes` body bytes.
  void cut_responses(const std::string& path, std::size_t bytes, int times) {
    std::lock_guard lock(mutex_);
    cuts_[path] = {bytes, times};
  }

  // Responds 200 with the whole body even to Range requests, as a server without range support.
  void ignore_ranges(bool on) {
    std::lock_guard lock(mutex_);
    ignore_ranges_ = on;
  }

  // Makes `from` respond 302 with Location `to`.
  void add_redirect(const std::string& from, const std::string& to) {
    std::lock_guard lock(mutex_);
    redirects_[from] = to;
  }

  // The Range header of every request for `path` in arrival order ("" for none).
  std::vector<std::string> ranges(const std::string& path) const {
    std::lock_guard lock(mutex_);
    const auto it = ranges_.find(path);
    return it == ranges_.end() ? std::vector<std::string>{} : it->second;
  }

 private:
  struct Cut {
    std::size_t bytes = 0;
    int times = 0;
  };

  void handle(const httplib::Request& request, httplib::Response& response) {
    std::lock_guard lock(mutex_);
    ranges_[request.path].push_back(request.get_header_value("Range"));
    if (const auto redirect = redirects_.find(request.path); redirect != redirects_.end()) {
      response.set_redirect(base_url() + redirect->second);
      return;
    }
    const auto file = files_.find(request.path);
    if (file == files_.end()) {
      response.status = 404;
      response.set_content("not found", "text/plain");
      return;
    }
    if (request.ranges.size() == 1 && request.ranges[0].first >= 0 &&
        static_cast<std::size_t>(request.ranges[0].first) >= file->second.size()) {
      // Like Apache and nginx, respond to a range past the end with 416 and the full length.
      response.status = 416;
      response.set_header("Content-Range", "bytes */" + std::to_string(file->second.size()));
      return;
    }
    Cut& cut = cuts_[request.path];
    if (cut.times > 0) {
      --cut.times;
      serve_cut(file->second, cut.bytes, response);
      return;
    }
    if (ignore_ranges_ && !request.ranges.empty()) {
      // httplib applies ranges to every body of known length, even under status 200, so
      // send the whole file with chunked transfer encoding, which it leaves alone.
      const std::string body = file->second;
      response.status = 200;
      response.set_chunked_content_provider("application/json",
                                            [body](std::size_t offset, httplib::DataSink& sink) {
                                              if (offset == 0) sink.write(body.data(), body.size());
                                              sink.done();
                                              return true;
                                            });
      return;
    }
    response.set_content(file->second, "application/json");
  }

  // Announces the whole length (or the requested range) and stops after `bytes` bytes.
  static void serve_cut(const std::string& body, std::size_t bytes, httplib::Response& response) {
    response.set_content_provider(
        body.size(), "application/json",
        [body, bytes](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          const std::size_t n = std::min(bytes, length);
          sink.write(body.data() + offset, n);
          return false;  // abort: httplib closes the connection
        });
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> files_;
  std::map<std::string, Cut> cuts_;
  std::map<std::string, std::string> redirects_;
  std::map<std::string, std::vector<std::string>> ranges_;
  bool ignore_ranges_ = false;
};

}  // namespace qrag::testing
