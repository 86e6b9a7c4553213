#pragma once
// A small synchronous HTTP/1.1 client: one request at a time over one kept-alive connection,
// to http://, https:// or a unix socket, every operation bounded by a deadline. Used by kiwictl
// (kiwid's API) and by kiwid and the workers for the servers Kiwi talks to (image registries,
// the Docker Engine API, the Kubernetes API, GitHub and GitLab). Callers on an I/O thread run
// it on a blocking pool. Boost.Beast stays inside the library's sources (http_client.cpp: requests
// and streams; http_connection.{hpp,cpp}: opening a connection; http_endpoint.cpp: URLs); this
// header needs only the standard library.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiwi {

// Where a server is. `base_path` is a prefix put in front of every request path (a reverse
// proxy's sub-path), without a trailing '/'.
struct http_endpoint {
  bool tls = false;
  std::string host;         // empty for a unix socket
  std::string port;
  std::string socket_path;  // unix:///run/docker.sock → /run/docker.sock
  std::string base_path;
  std::string url;  // as given, for messages
};

// nullopt when `url` is not http(s)://host[:port][/path] or unix:///absolute/path.
std::optional<http_endpoint> parse_http_endpoint(std::string_view url);

struct tls_settings {
  bool verify = true;       // false: any certificate (a registry marked insecure)
  std::string ca_file;      // trust these CAs instead of the system's
  std::string ca_pem;       // or these (PEM text), e.g. a Kubernetes runtime's CA
  std::string client_cert_pem, client_key_pem;  // mutual TLS (Docker over tcp)
};

struct http_options {
  std::string peer = "the server";  // named in messages: "cannot reach <peer> at <url>"
  std::string hint;                 // appended to connection failures, e.g. what to check
  std::string tls_hint;             // appended to TLS handshake failures instead
  tls_settings tls;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};  // per write and per read
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::string user_agent = "kiwi/0.1";
};

using header_list = std::vector<std::pair<std::string, std::string>>;

// The server could not be reached: resolve, connect, TLS or a transfer failed or timed out.
// The message names the peer and the step, never a credential.
struct http_unreachable : std::runtime_error {
  enum class step { resolve, connect, tls, transfer };
  http_unreachable(const std::string& message, step s, bool timed_out)
      : std::runtime_error(message), failed_step(s), timed_out(timed_out) {}
  step failed_step;
  bool timed_out;
};

struct http_reply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  header_list headers;  // as received
  // The first header with this name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const;
};

class http_client {
 public:
  http_client(http_endpoint where, http_options options);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sent with every request (an Authorization header, say); never shown in messages.
  void set_default_headers(header_list headers) { default_headers_ = std::move(headers); }

  // `path` starts with '/' and is appended to the base path. A body without a Content-Type in
  // `headers` is sent as application/json. Throws http_unreachable; any status is a reply.
  http_reply request(std::string_view method, const std::string& path,
                     const std::string* body = nullptr, const header_list& headers = {});

  // A streamed GET (Server-Sent Events, a log that follows): on a 2xx answer `on_data` gets the
  // body's bytes as they arrive and returns false to stop; the call returns when the server
  // ends the body, `on_data` stops, or nothing arrives for `idle_timeout`. A non-2xx answer is
  // returned whole. `ended_cleanly` tells the end of the body apart from a dropped connection.
  struct stream_result {
    http_reply reply;  // body only for non-2xx answers
    bool ended_cleanly = false;
  };
  stream_result stream(const std::string& path, const header_list& headers,
                       const std::function<bool(std::string_view)>& on_data,
                       std::chrono::milliseconds idle_timeout);

  const http_endpoint& where() const { return where_; }

  struct connection;  // an open connection (Beast types), defined in http_connection.hpp

 private:
  http_endpoint where_;
  http_options options_;
  header_list default_headers_;
  std::unique_ptr<connection> conn_;  // reopened when the server closed it
};

}  // namespace kiwi
