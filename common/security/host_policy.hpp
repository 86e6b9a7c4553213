#pragma once
// Which hosts Kiwi's git connections may reach (config keys git.allowed_hosts and
// git.denied_hosts; docs/security.md, "Smaller holes"). Kiwi's socket stream
// (common/git/socket_stream.cpp) asks it before every connect of a clone, a fetch, a connection
// test or a Dockerfile preview, for the host name and for each address the name resolves to,
// so a name that resolves to a cloud metadata address is refused as the address itself is.
//
// A pattern is a host name ("git.example.com", case-insensitive), a wildcard for the subdomains
// of one ("*.example.com"), an IP address ("10.0.0.7", "::1") or a CIDR range
// ("169.254.0.0/16", "fe80::/10").

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>

namespace kiwi {

struct host_policy {
  // Empty: every host not denied. Otherwise only hosts (names or addresses) matching one.
  std::vector<std::string> allowed;
  // Refused even when allowed. The default: link-local ranges and the cloud metadata
  // endpoints, which hand out the machine's cloud credentials to whoever asks.
  std::vector<std::string> denied = default_denied();

  static std::vector<std::string> default_denied();

  // Why a connection to `host` (a name or an address literal) is refused by denied, or nullopt.
  std::optional<std::string> refuses_name(std::string_view host) const;
  // Why a connection to `host` at `address` (one of its resolved addresses) is refused.
  std::optional<std::string> refuses_address(std::string_view host,
                                             const sockaddr* address) const;
};

// "" when the pattern is well-formed, else what is wrong with it.
std::string check_host_pattern(std::string_view pattern);

}  // namespace kiwi
