#include "common/security/url_authority.hpp"

#include "common/base/text.hpp"

namespace kiwi {
namespace {

std::string default_port(std::string_view scheme) {
  if (scheme == "http") {
    return "80";
  }
  if (scheme == "https" || scheme.empty()) {
    return "443";
  }
  if (scheme == "ssh") {
    return "22";
  }
  if (scheme == "git") {
    return "9418";
  }
  return "";
}

}  // namespace

std::optional<url_authority> parse_url_authority(std::string_view url) {
  if (url.empty()) {
    return std::nullopt;
  }
  url_authority a;
  std::string_view rest = url;
  if (const auto sep = rest.find("://"); sep != std::string_view::npos) {
    a.scheme = to_lower_ascii(rest.substr(0, sep));
    rest.remove_prefix(sep + 3);
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    a.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    a.host = to_lower_ascii(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    a.host = to_lower_ascii(authority.substr(0, colon));
    port = authority.substr(colon + 1);
  } else {
    a.host = to_lower_ascii(authority);
  }
  while (a.host.ends_with('.')) {
    a.host.pop_back();
  }
  a.port = port.empty() ? default_port(a.scheme) : std::string(port);
  return a;
}

bool same_endpoint(std::string_view a, std::string_view b) {
  auto x = parse_url_authority(a);
  auto y = parse_url_authority(b);
  if (!x || !y) {
    return false;
  }
  auto scheme = [](const std::string& s) { return s.empty() ? std::string("https") : s; };
  return scheme(x->scheme) == scheme(y->scheme) && x->host == y->host && x->port == y->port;
}

std::string endpoint_of(std::string_view url) {
  auto a = parse_url_authority(url);
  if (!a) {
    return {};
  }
  const std::string host = a->host.find(':') != std::string::npos ? "[" + a->host + "]" : a->host;
  return a->port.empty() ? host : host + ":" + a->port;
}

}  // namespace kiwi
