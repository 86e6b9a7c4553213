#include "common/git/ssh_known_hosts.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "common/security/crypto.hpp"

namespace kiwi::ssh {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits a line into whitespace-separated fields.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) {
      ++i;
    }
    const std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) {
      ++i;
    }
    if (i > start) {
      out.push_back(line.substr(start, i - start));
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t at = text.find(separator);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) {
      return out;
    }
    text.remove_prefix(at + 1);
  }
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64; padding optional, nothing else allowed.
std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
  }
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int v = base64_value(c);
    if (v < 0) {
      return std::nullopt;
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// Reads one SSH wire-format string (uint32 length, bytes) off the front of data.
std::optional<std::string_view> take_string(std::string_view& data) {
  if (data.size() < 4) {
    return std::nullopt;
  }
  const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(
                                             static_cast<unsigned char>(data[i])); };
  const std::uint32_t len = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
  if (data.size() - 4 < len) {
    return std::nullopt;
  }
  std::string_view out = data.substr(4, len);
  data.remove_prefix(4 + len);
  return out;
}

// The key type named at the start of a public key blob ("ssh-ed25519"), empty if malformed.
std::string_view blob_type(std::string_view blob) {
  auto type = take_string(blob);
  return type ? *type : std::string_view();
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// OpenSSH's host patterns: '*' any run, '?' any one character, case-insensitive.
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || lower(pattern[p]) == lower(text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

// A hashed entry "|1|base64(salt)|base64(HMAC-SHA1(salt, label))".
bool hashed_match(std::string_view entry, std::string_view label) {
  const auto parts = split(entry.substr(3), '|');
  if (parts.size() != 2) {
    return false;
  }
  const auto salt = base64_decode(parts[0]);
  const auto expected = base64_decode(parts[1]);
  if (!salt || !expected) {
    return false;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha1(), salt->data(), static_cast<int>(salt->size()),
           reinterpret_cast<const unsigned char*>(label.data()), label.size(), digest,
           &len) == nullptr) {
    return false;
  }
  return std::string_view(reinterpret_cast<const char*>(digest), len) == *expected;
}

bool names_host(std::string_view hosts, std::string_view label) {
  if (hosts.starts_with("|1|")) {
    return hashed_match(hosts, label);
  }
  bool matched = false;
  for (std::string_view pattern : split(hosts, ',')) {
    const bool negated = pattern.starts_with('!');
    if (negated) {
      pattern.remove_prefix(1);
    }
    if (glob_match(pattern, label)) {
      if (negated) {
        return false;
      }
      matched = true;
    }
  }
  return matched;
}

// Calls visit(line number, fields) for each line that is not blank or a comment.
template <class Visit>
void for_each_entry(std::string_view text, Visit&& visit) {
  int number = 0;
  for (std::string_view line : split(text, '\n')) {
    ++number;
    auto fields = fields_of(line);
    if (fields.empty() || fields.front().starts_with('#')) {
      continue;
    }
    if (!visit(number, fields)) {
      return;
    }
  }
}

}  // namespace

std::string check_known_hosts(std::string_view text) {
  std::string problem;
  bool any = false;
  for_each_entry(text, [&](int number, const std::vector<std::string_view>& fields) {
    const std::string at = "line " + std::to_string(number) + ": ";
    if (fields.front().starts_with('@')) {
      problem = at + std::string(fields.front()) +
                " lines are not supported; list the host's own keys (ssh-keyscan -p PORT HOST)";
      return false;
    }
    if (fields.size() < 3) {
      problem = at + "expected \"host keytype base64-key\", e.g. \"[git.example.com]:2222 "
                     "ssh-ed25519 AAAAC3Nza...\" (ssh-keyscan prints such lines)";
      return false;
    }
    const std::string_view hosts = fields[0];
    if (hosts.starts_with('|')) {
      // OpenSSH's salt and hash are both SHA-1 sized.
      const auto parts = split(hosts, '|');
      const auto salt = parts.size() == 4 ? base64_decode(parts[2]) : std::nullopt;
      const auto hash = parts.size() == 4 ? base64_decode(parts[3]) : std::nullopt;
      if (parts.size() != 4 || parts[1] != "1" || !salt || salt->size() != 20 || !hash ||
          hash->size() != 20) {
        problem = at + "a hashed host must be |1|salt|hash (ssh-keyscan -H)";
        return false;
      }
    } else {
      for (std::string_view pattern : split(hosts, ',')) {
        if (pattern.empty() || pattern == "!") {
          problem = at + "empty host name in \"" + std::string(hosts) + "\"";
          return false;
        }
      }
    }
    const auto blob = base64_decode(fields[2]);
    if (!blob || blob->empty()) {
      problem = at + "the key is not valid base64";
      return false;
    }
    if (blob_type(*blob) != fields[1]) {
      problem = at + "the key is not a " + std::string(fields[1]) + " public key";
      return false;
    }
    any = true;
    return true;
  });
  if (problem.empty() && !any) {
    problem = "holds no host key line; give lines such as \"[git.example.com]:2222 ssh-ed25519 "
              "AAAAC3Nza...\" (ssh-keyscan prints them), or leave the field out";
  }
  return problem;
}

std::string host_label(std::string_view host, int port) {
  if (port <= 0 || port == 22) {
    return std::string(host);
  }
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

bool known_hosts_match(std::string_view text, std::string_view host, int port,
                       std::string_view key_sha256) {
  const std::string label = host_label(host, port);
  bool found = false;
  for_each_entry(text, [&](int, const std::vector<std::string_view>& fields) {
    if (fields.size() < 3 || fields[0].starts_with('@') || !names_host(fields[0], label)) {
      return true;
    }
    const auto blob = base64_decode(fields[2]);
    found = blob && blob_type(*blob) == fields[1] &&
            constant_time_equal(sha256(*blob), key_sha256);
    return !found;
  });
  return found;
}

std::string fingerprint(std::string_view key_sha256) {
  std::string encoded = base64_encode(key_sha256);
  while (!encoded.empty() && encoded.back() == '=') {
    encoded.pop_back();
  }
  return "SHA256:" + encoded;
}

std::string known_hosts_line(std::string_view label, std::string_view key_blob) {
  const std::string_view type = blob_type(key_blob);
  if (type.empty()) {
    return {};
  }
  return std::string(label) + " " + std::string(type) + " " + base64_encode(key_blob);
}

std::string public_key_of(std::string_view openssh_private_key) {
  constexpr std::string_view begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
  constexpr std::string_view end = "-----END OPENSSH PRIVATE KEY-----";
  const std::size_t from = openssh_private_key.find(begin);
  const std::size_t to = openssh_private_key.find(end);
  if (from == std::string_view::npos || to == std::string_view::npos || to < from) {
    return {};
  }
  std::string body;
  for (char c : openssh_private_key.substr(from + begin.size(), to - from - begin.size())) {
    if (!is_space(c) && c != '\n') {
      body.push_back(c);
    }
  }
  const auto decoded = base64_decode(body);
  constexpr std::string_view magic{"openssh-key-v1\0", 15};
  if (!decoded || !std::string_view(*decoded).starts_with(magic)) {
    return {};
  }
  std::string_view data = std::string_view(*decoded).substr(magic.size());
  // ciphername, kdfname, kdfoptions, then the number of keys and the first public key.
  for (int i = 0; i < 3; ++i) {
    if (!take_string(data)) {
      return {};
    }
  }
  if (data.size() < 4) {
    return {};
  }
  data.remove_prefix(4);
  const auto blob = take_string(data);
  if (!blob || blob_type(*blob).empty()) {
    return {};
  }
  return std::string(blob_type(*blob)) + " " + base64_encode(*blob);
}

}  // namespace kiwi::ssh
