#include "common/http/http_client.hpp"

#include <cstdlib>

namespace kiwi {

std::optional<http_endpoint> parse_http_endpoint(std::string_view url) {
  http_endpoint e;
  e.url = std::string(url);
  std::string_view rest = url;
  if (rest.starts_with("unix://")) {  // unix:///run/docker.sock
    rest.remove_prefix(7);
    if (!rest.starts_with('/') || rest.size() < 2) {
      return std::nullopt;
    }
    e.socket_path = std::string(rest);
    return e;
  }
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    e.tls = true;
  } else {
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (path.ends_with('/')) {
    path.remove_suffix(1);
  }
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      path.find_first_of("?#") != std::string_view::npos) {
    return std::nullopt;
  }
  if (authority.front() == '[') {  // [::1]:8080
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    e.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') {
      return std::nullopt;
    }
  } else {
    const auto colon = authority.find(':');
    e.host = std::string(authority.substr(0, colon));
    authority.remove_prefix(colon == std::string_view::npos ? authority.size() : colon);
  }
  if (!authority.empty()) {  // ":port"
    e.port = std::string(authority.substr(1));
    if (e.port.empty() || e.port.size() > 5 ||
        e.port.find_first_not_of("0123456789") != std::string::npos ||
        std::atoi(e.port.c_str()) > 65535) {
      return std::nullopt;
    }
  } else {
    e.port = e.tls ? "443" : "80";
  }
  if (e.host.empty()) {
    return std::nullopt;
  }
  e.base_path = std::string(path);
  return e;
}

}  // namespace kiwi
