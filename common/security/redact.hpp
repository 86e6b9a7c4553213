#pragma once
// Masks secrets in text that leaves the worker (build logs, failure messages). Each secret is
// replaced by "***" in every form a tool is likely to print it:
// - the secret itself;
// - its standard base64 (with and without '=' padding), as in tokens passed through config;
// - its URL (percent) encoding, upper- and lower-case hex, as in credentials inside URLs;
// - with a user: base64 of "user:secret", the HTTP Basic / registry auth form.
// A secret with line breaks (a PEM key) is also masked line by line, since logs arrive as lines.
//
// Secrets shorter than min_secret_length are ignored: masking "ab" would garble every log line
// that contains those letters, and the pattern of masks would itself reveal the value. Such a
// value is no secret anyway (it can be guessed); validation elsewhere rejects short tokens.
//
// The needles are computed once and matched longest first in a single pass, so one instance
// can mask every log line of a build cheaply. Const member functions are safe to call from
// several threads.

#include <string>
#include <string_view>
#include <vector>

namespace kiwi {

class redactor {
 public:
  static constexpr std::size_t min_secret_length = 4;
  static constexpr std::string_view mask = "***";

  redactor() = default;

  // Adds a secret (ignored when shorter than min_secret_length). With a user, base64 of
  // "user:secret" is masked too.
  void add(std::string_view secret, std::string_view user = {});

  std::string redact(std::string_view text) const;
  void redact_in_place(std::string& text) const;

  bool empty() const { return needles_.empty(); }
  // The forms being masked, longest first (for tests).
  const std::vector<std::string>& needles() const { return needles_; }

 private:
  void add_needle(std::string needle);

  std::vector<std::string> needles_;  // longest first, no duplicates
  bool first_byte_[256] = {};         // whether some needle starts with this byte
};

// Percent-encoding of everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string percent_encode(std::string_view data, bool lower_case_hex = false);

}  // namespace kiwi
