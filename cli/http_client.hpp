#pragma once
// A small synchronous HTTP/1.1 client for kiwid's API: one request at a time over one
// connection (kept alive), http:// or https://, every operation bounded by a deadline.
// Boost.Beast stays inside http_client.cpp; this header only needs the standard library.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiwi::cli {

// Where kiwid is: KIWI_URL split up. `base_path` is a prefix in front of /api/v1 (a reverse
// proxy's sub-path), without a trailing '/'.
struct endpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string base_path;
  std::string url;  // as given, for messages
};

// nullopt when `url` is not http(s)://host[:port][/path].
std::optional<endpoint> parse_endpoint(std::string_view url);

// kiwid could not be reached: resolve, connect, TLS or a transfer failed or timed out.
struct unreachable_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct http_reply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

class http_client {
 public:
  // `token` is sent as `Authorization: Bearer <token>` (never shown in messages).
  http_client(endpoint where, std::string token,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // `path` starts with '/' and is appended to the base path (e.g. "/api/v1/services").
  // Throws unreachable_error; any HTTP status is a reply.
  http_reply request(std::string_view method, const std::string& path,
                     const std::string* json_body = nullptr);

  // A streamed GET (Server-Sent Events): on a 2xx answer `on_data` gets the body's bytes as they
  // arrive and returns false to stop; the call returns when the server ends the body, `on_data`
  // stops, or nothing (not even a keep-alive) arrives for `idle_timeout`. A non-2xx answer is
  // returned whole. `ended_cleanly` tells the end of the body apart from a dropped connection.
  struct stream_result {
    http_reply reply;  // body only for non-2xx answers
    bool ended_cleanly = false;
  };
  stream_result stream(const std::string& path, const header_list& extra_headers,
                       const std::function<bool(std::string_view)>& on_data,
                       std::chrono::milliseconds idle_timeout);

  const endpoint& where() const { return where_; }

  struct connection;  // an open connection (Beast types), defined in http_client.cpp

 private:
  endpoint where_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<connection> conn_;  // owned; reopened when the server closed it
};

}  // namespace kiwi::cli
