#include "common/security/host_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "common/base/text.hpp"

namespace kiwi {
namespace {

// An IPv4 or IPv6 address as 16 bytes (IPv4 as ::ffff:a.b.c.d) and whether it was IPv4.
struct address {
  std::array<unsigned char, 16> bytes{};
  bool v4 = false;
};

std::optional<address> parse_address(std::string_view text) {
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  address a;
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    a.v4 = true;
    a.bytes[10] = a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, &v4, 4);
    return a;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(a.bytes.data(), &v6, 16);
    // An IPv4-mapped IPv6 address is the IPv4 address (::ffff:169.254.169.254).
    static constexpr std::array<unsigned char, 12> mapped = {0, 0, 0, 0, 0, 0,
                                                             0, 0, 0, 0, 0xff, 0xff};
    a.v4 = std::equal(mapped.begin(), mapped.end(), a.bytes.begin());
    return a;
  }
  return std::nullopt;
}

std::optional<address> from_sockaddr(const sockaddr* sa) {
  address a;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    a.v4 = true;
    a.bytes[10] = a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, &in->sin_addr, 4);
    return a;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    return parse_address(text);
  }
  return std::nullopt;
}

// A pattern that is an address or a range: the address and the prefix length in bits of the
// 16-byte form.
struct range {
  address base;
  unsigned prefix = 128;
};

std::optional<range> parse_range(std::string_view pattern) {
  const std::size_t slash = pattern.find('/');
  auto base = parse_address(pattern.substr(0, slash));
  if (!base) {
    return std::nullopt;
  }
  range r{*base, 128};
  if (slash == std::string_view::npos) {
    return r;
  }
  const std::string_view bits = pattern.substr(slash + 1);
  unsigned n = 0;
  if (bits.empty() || bits.size() > 3 ||
      !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  for (char c : bits) {
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (n > (base->v4 ? 32u : 128u)) {
    return std::nullopt;
  }
  r.prefix = base->v4 ? n + 96 : n;
  return r;
}

bool in_range(const range& r, const address& a) {
  for (unsigned bit = 0; bit < r.prefix; ++bit) {
    const unsigned mask = 0x80u >> (bit % 8);
    if ((r.base.bytes[bit / 8] & mask) != (a.bytes[bit / 8] & mask)) {
      return false;
    }
  }
  return true;
}

std::string normal_name(std::string_view host) {
  std::string h = to_lower_ascii(std::string(host));
  while (h.ends_with('.')) {
    h.pop_back();  // "metadata.google.internal." is the same name
  }
  return h;
}

bool name_matches(std::string_view pattern, const std::string& host) {
  const std::string p = normal_name(pattern);
  if (p.starts_with("*.")) {
    return host.size() > p.size() - 1 && host.ends_with(p.substr(1));
  }
  return p == host;
}

// Whether `pattern` matches the name `host` or, when given, the address `a`.
bool matches(std::string_view pattern, const std::string& host, const address* a) {
  if (auto r = parse_range(pattern)) {
    if (a != nullptr) {
      return in_range(*r, *a);
    }
    auto literal = parse_address(host);
    return literal && in_range(*r, *literal);
  }
  return name_matches(pattern, host);
}

}  // namespace

std::vector<std::string> host_policy::default_denied() {
  return {"169.254.0.0/16",            // IPv4 link-local: AWS, GCP, Azure, OpenStack metadata
          "fe80::/10",                 // IPv6 link-local
          "fd00:ec2::254",             // AWS metadata over IPv6
          "100.100.100.200",           // Alibaba Cloud metadata
          "metadata.google.internal",  // GCP metadata by name
          "metadata"};
}

std::optional<std::string> host_policy::refuses_name(std::string_view host) const {
  const std::string name = normal_name(host);
  for (const auto& p : denied) {
    if (matches(p, name, nullptr)) {
      return "host " + std::string(host) + " is refused by git.denied_hosts (\"" + p + "\")";
    }
  }
  return std::nullopt;  // allowed_hosts is checked per address: it may name either
}

std::optional<std::string> host_policy::refuses_address(std::string_view host,
                                                        const sockaddr* sa) const {
  const auto a = from_sockaddr(sa);
  if (!a) {
    return std::nullopt;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (a->v4) {
    ::inet_ntop(AF_INET, a->bytes.data() + 12, text, sizeof(text));
  } else {
    ::inet_ntop(AF_INET6, a->bytes.data(), text, sizeof(text));
  }
  // Deny rules see the address; allow rules may name the host or the address.
  const std::string name = normal_name(host);
  for (const auto& p : denied) {
    if (parse_range(p) && matches(p, name, &*a)) {
      return "host " + std::string(host) + " (" + text + ") is refused by git.denied_hosts (\"" +
             p + "\")";
    }
  }
  if (allowed.empty()) {
    return std::nullopt;
  }
  for (const auto& p : allowed) {
    if (matches(p, name, nullptr) || (parse_range(p) && matches(p, name, &*a))) {
      return std::nullopt;
    }
  }
  return "host " + std::string(host) + " (" + text + ") is not in git.allowed_hosts";
}

std::string check_host_pattern(std::string_view pattern) {
  if (pattern.find('/') != std::string_view::npos) {
    return parse_range(pattern) ? "" : "\"" + std::string(pattern) +
                                           "\" is not a CIDR range such as 169.254.0.0/16";
  }
  if (parse_address(pattern)) {
    return "";
  }
  std::string_view name = pattern;
  if (name.starts_with("*.")) {
    name.remove_prefix(2);
  }
  const bool ok = !name.empty() && name.size() <= 253 &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '.';
                  });
  return ok ? "" : "\"" + std::string(pattern) +
                       "\" is not a host name, *.domain, IP address or CIDR range";
}

}  // namespace kiwi
