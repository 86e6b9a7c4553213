#pragma once
// The authority part of a URL (scheme, userinfo, host, port), for the rules about where a
// secret may go (docs/security.md, "Where credentials go"): a resource's kept secret is sent
// only to the endpoint it was given for, and no URL carries credentials in its userinfo.

#include <optional>
#include <string>
#include <string_view>

namespace kiwi {

struct url_authority {
  std::string scheme;    // lower case; empty when the URL has none (registry "docker.io")
  std::string userinfo;  // before the '@' of the authority; empty when none
  std::string host;      // lower case, IPv6 without brackets; empty for file:///path
  std::string port;      // as written, else the scheme's default (80, 443, 22, 9418), else ""
};

// nullopt when the text has no authority to speak of (an empty string).
std::optional<url_authority> parse_url_authority(std::string_view url);

// Whether two URLs name the same endpoint: scheme (none counts as https), host and port.
bool same_endpoint(std::string_view a, std::string_view b);

// "host:port" (or "host") of a URL for messages; never the userinfo.
std::string endpoint_of(std::string_view url);

}  // namespace kiwi
