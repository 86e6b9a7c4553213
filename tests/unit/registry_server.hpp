#pragma once
// Image registries for tests: a real docker-registry (Distribution 2.8) on 127.0.0.1 with
// filesystem storage and htpasswd (bcrypt) basic auth, a reader of manifest digests through the
// v2 API, and a stand-in that answers every repository request with one fixed HTTP status (to
// see what buildah makes of a 403 or a 503). Every wait is bounded; servers stop by PID.

#include <doctest/doctest.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <string>
#include <thread>

#include "common/security/crypto.hpp"  // base64_encode
#include "tests/unit/git_servers.hpp"

namespace kiwi::test {

struct http_answer {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// One HTTP/1.0 request to 127.0.0.1:port (the connection closes after the answer).
inline http_answer http_request(int port, const std::string& method, const std::string& path,
                                const std::vector<std::string>& headers = {},
                                std::chrono::milliseconds limit = 5s) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    return {};
  }
  std::string request =
      method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& h : headers) {
    request += h + "\r\n";
  }
  request += "\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string raw;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;
    }
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  http_answer answer;
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || head_end == std::string::npos) {
    return answer;
  }
  answer.status = std::stoi(raw.substr(9, 3));
  answer.body = raw.substr(head_end + 4);
  std::string_view head(raw.data(), head_end);
  head.remove_prefix(std::min(head.size(), head.find("\r\n") + 2));
  while (!head.empty()) {
    const auto eol = std::min(head.find("\r\n"), head.size());
    std::string_view line = head.substr(0, eol);
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      std::string name(line.substr(0, colon));
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      answer.headers[name] = std::string(value);
    }
    head.remove_prefix(std::min(head.size(), eol + 2));
  }
  return answer;
}

// docker-registry serving 127.0.0.1:port() from a private directory; user()/password() are the
// only valid credentials.
class registry_server {
 public:
  explicit registry_server(std::string user = "kiwi", std::string password = "s3cret-Pa55word")
      : user_(std::move(user)), password_(std::move(password)), port_(free_port()) {
    write_file(dir_.path() / "htpasswd", run({"htpasswd", "-Bbn", user_, password_}));
    write_file(dir_.path() / "config.yml",
               "version: 0.1\n"
               "log:\n  level: warn\n"
               "storage:\n  filesystem:\n    rootdirectory: " +
                   (dir_.path() / "data").string() +
                   "\n  delete:\n    enabled: true\n"
                   "http:\n  addr: 127.0.0.1:" +
                   std::to_string(port_) +
                   "\n  secret: kiwi-test-secret\n"
                   "auth:\n  htpasswd:\n    realm: kiwi-test\n    path: " +
                   (dir_.path() / "htpasswd").string() + "\n");
    const int log = ::open((dir_.path() / "registry.log").c_str(),
                           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = spawn({"docker-registry", "serve", (dir_.path() / "config.yml").string()}, log);
    ::close(log);
    // Ready when /v2/ asks for credentials.
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (http_request(port_, "GET", "/v2/", {}, 1s).status != 401) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("docker-registry exited: " << read_file(dir_.path() / "registry.log"));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL("docker-registry did not answer on port " << port_);
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  ~registry_server() { stop_process_group(pid_); }
  registry_server(const registry_server&) = delete;
  registry_server& operator=(const registry_server&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& user() const { return user_; }
  const std::string& password() const { return password_; }

  // The registry's digest of name:tag (its Docker-Content-Digest header); empty if unknown.
  std::string manifest_digest(const std::string& name, const std::string& tag) const {
    const http_answer a =
        http_request(port_, "GET", "/v2/" + name + "/manifests/" + tag,
                     {"Accept: application/vnd.docker.distribution.manifest.v2+json, "
                      "application/vnd.oci.image.manifest.v1+json",
                      "Authorization: Basic " + kiwi::base64_encode(user_ + ":" + password_)});
    if (a.status != 200) {
      return {};
    }
    const auto it = a.headers.find("docker-content-digest");
    return it == a.headers.end() ? std::string() : it->second;
  }

 private:
  temp_dir dir_{"kiwi-registry"};
  std::string user_;
  std::string password_;
  int port_;
  pid_t pid_ = -1;
};

// A stand-in registry: GET /v2/ answers 200 (no auth), every other request `status` with a
// body. Counts the requests it answered.
class fixed_status_registry {
 public:
  fixed_status_registry(int status, std::string body) : status_(status), body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("cannot open the stand-in registry socket");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~fixed_status_registry() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  fixed_status_registry(const fixed_status_registry&) = delete;
  fixed_status_registry& operator=(const fixed_status_registry&) = delete;

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int answered() const { return answered_.load(); }

 private:
  void serve() {
    std::vector<std::thread> connections;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) {
        continue;
      }
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        connections.emplace_back([this, c] { answer(c); });
      }
    }
    for (auto& t : connections) {
      t.join();
    }
  }

  // Answers the connection's first request, then closes it.
  void answer(int c) {
    std::string in;
    while (!stop_) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 50) <= 0) {
        continue;
      }
      char buf[4096];
      const ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) {
        break;
      }
      in.append(buf, static_cast<std::size_t>(n));
      if (in[0] == '\x16') {
        // A TLS ClientHello (buildah tries https first): refuse it at once, as Go's plain
        // HTTP server does, so the client falls back to http without waiting for a timeout.
        const std::string refuse = "HTTP/1.0 400 Bad Request\r\n\r\n";
        ::send(c, refuse.data(), refuse.size(), MSG_NOSIGNAL);
        break;
      }
      for (auto end = in.find("\r\n\r\n"); end != std::string::npos; end = in.find("\r\n\r\n")) {
        const std::string head = in.substr(0, end);
        in.erase(0, end + 4);
        // No request body is expected: the first repository request is already refused.
        const bool ping = head.starts_with("GET /v2/ ");
        const int status = ping ? 200 : status_;
        const std::string body = ping ? std::string("{}") : body_;
        std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                          "\r\nContent-Type: application/json\r\n"
                          "Docker-Distribution-Api-Version: registry/2.0\r\n"
                          "Connection: close\r\n"
                          "Content-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n";
        if (!head.starts_with("HEAD ")) {
          out += body;
        }
        ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        ++answered_;
        ::close(c);  // one request per connection, as an HTTP/1.0 server does
        return;
      }
    }
    ::close(c);
  }
  static std::string reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 401:
        return "Unauthorized";
      case 403:
        return "Forbidden";
      case 404:
        return "Not Found";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      default:
        return "Status";
    }
  }

  int status_;
  std::string body_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

}  // namespace kiwi::test
