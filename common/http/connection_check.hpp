#pragma once
// What a "test" of a registered resource answers (POST /registries/{name}/test,
// POST /runtimes/{name}/test), and the bounded GET the checks are made of. The checks
// themselves are in registry_probe.hpp and runtime_probe.hpp. Blocking: run them on a
// blocking pool.

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http/http_client.hpp"

namespace kiwi {

struct connection_check {
  bool ok = false;
  // ok: what was found ("authenticated with Basic at ..."); else what failed and what to do.
  // Never holds a password, token or key.
  std::string message;
  // When !ok: authentication, forbidden, unreachable, timeout, certificate, not_found, other.
  std::string error_kind;
  // Facts for the answer's "details" (endpoint, versions, ...), in order.
  std::vector<std::pair<std::string, std::string>> details;
};

connection_check check_failed(std::string kind, std::string message);

// A whole check's deadline, shared by its requests.
class check_deadline {
 public:
  explicit check_deadline(std::chrono::milliseconds total);
  // The timeout for each operation of the next request. A request is at most four operations
  // (connect, TLS handshake, write, read), so each gets a quarter of what is left: the request
  // ends before the deadline. nullopt once the deadline has passed.
  std::optional<std::chrono::milliseconds> per_operation() const;
  std::chrono::milliseconds total() const { return total_; }

 private:
  std::chrono::steady_clock::time_point end_;
  std::chrono::milliseconds total_;
};

// One request of `target` (path and query) at `where` within the deadline; a fresh
// connection. Throws http_unreachable (also when the deadline has passed).
http_reply bounded_request(std::string_view method, const http_endpoint& where,
                           const std::string& target, const std::string* body,
                           const header_list& headers, http_options options,
                           const check_deadline& deadline);
inline http_reply bounded_get(const http_endpoint& where, const std::string& target,
                              const header_list& headers, http_options options,
                              const check_deadline& deadline) {
  return bounded_request("GET", where, target, nullptr, headers, std::move(options), deadline);
}

// `text` with every occurrence of each non-empty secret replaced by "***".
std::string without_secrets(std::string text, std::initializer_list<std::string_view> secrets);

}  // namespace kiwi
