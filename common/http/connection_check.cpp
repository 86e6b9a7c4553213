#include "common/http/connection_check.hpp"

#include <algorithm>

namespace kiwi {

connection_check check_failed(std::string kind, std::string message) {
  connection_check c;
  c.error_kind = std::move(kind);
  c.message = std::move(message);
  return c;
}

check_deadline::check_deadline(std::chrono::milliseconds total)
    : end_(std::chrono::steady_clock::now() + total), total_(total) {}

std::optional<std::chrono::milliseconds> check_deadline::per_operation() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      end_ - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    return std::nullopt;
  }
  return std::max(left / 4, std::chrono::milliseconds(1));
}

http_reply bounded_request(std::string_view method, const http_endpoint& where,
                           const std::string& target, const std::string* body,
                           const header_list& headers, http_options options,
                           const check_deadline& deadline) {
  const auto each = deadline.per_operation();
  if (!each) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(deadline.total());
    throw http_unreachable("no answer from " + options.peer + " at " + where.url + " within " +
                               std::to_string(seconds.count()) + " s",
                           http_unreachable::step::transfer, true);
  }
  options.timeout = *each;
  options.connect_timeout = *each;
  http_client client(where, std::move(options));
  return client.request(method, target, body, headers);
}

std::string without_secrets(std::string text, std::initializer_list<std::string_view> secrets) {
  for (const std::string_view secret : secrets) {
    if (secret.empty()) {
      continue;
    }
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

}  // namespace kiwi
