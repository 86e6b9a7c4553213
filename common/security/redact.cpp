#include "common/security/redact.hpp"

#include <algorithm>
#include <cstring>

#include "common/security/crypto.hpp"  // base64_encode

namespace kiwi {
namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string percent_encode(std::string_view data, bool lower_case_hex) {
  const char* digits = lower_case_hex ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string out;
  out.reserve(data.size() * 3);
  for (unsigned char c : data) {
    if (is_unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0x0F]);
    }
  }
  return out;
}

void redactor::add_needle(std::string needle) {
  if (needle.size() < min_secret_length ||
      std::find(needles_.begin(), needles_.end(), needle) != needles_.end()) {
    return;
  }
  first_byte_[static_cast<unsigned char>(needle.front())] = true;
  // Longest first: a longer form that contains a shorter one is masked whole.
  const auto at = std::find_if(needles_.begin(), needles_.end(),
                               [&](const std::string& n) { return n.size() < needle.size(); });
  needles_.insert(at, std::move(needle));
}

void redactor::add(std::string_view secret, std::string_view user) {
  if (secret.size() < min_secret_length) {
    return;
  }
  const auto add_forms = [this](std::string_view s) {
    if (s.size() < min_secret_length) {
      return;
    }
    add_needle(std::string(s));
    std::string b64 = base64_encode(s);
    std::string unpadded = b64.substr(0, b64.find_last_not_of('=') + 1);
    add_needle(std::move(b64));
    add_needle(std::move(unpadded));
    add_needle(percent_encode(s, false));
    add_needle(percent_encode(s, true));
  };
  add_forms(secret);
  if (!user.empty()) {
    add_needle(base64_encode(std::string(user) + ":" + std::string(secret)));
  }
  if (secret.find('\n') != std::string_view::npos) {
    std::string_view rest = secret;
    while (!rest.empty()) {
      const auto eol = rest.find('\n');
      std::string_view line = rest.substr(0, eol);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      add_needle(std::string(line));
      rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    }
  }
}

std::string redactor::redact(std::string_view text) const {
  std::string out;
  if (needles_.empty()) {
    out.assign(text);
    return out;
  }
  out.reserve(text.size());
  std::size_t copied = 0;  // text before this was appended to out
  std::size_t i = 0;
  while (i < text.size()) {
    bool matched = false;
    if (first_byte_[static_cast<unsigned char>(text[i])]) {
      for (const auto& needle : needles_) {
        if (text.size() - i >= needle.size() &&
            std::memcmp(text.data() + i, needle.data(), needle.size()) == 0) {
          out.append(text.substr(copied, i - copied));
          out.append(mask);
          i += needle.size();
          copied = i;
          matched = true;
          break;
        }
      }
    }
    if (!matched) {
      ++i;
    }
  }
  out.append(text.substr(copied));
  return out;
}

void redactor::redact_in_place(std::string& text) const {
  if (!needles_.empty()) {
    text = redact(text);
  }
}

}  // namespace kiwi
