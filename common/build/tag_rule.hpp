#pragma once
// A service's tag rule ("${BRANCH}-${SHORT_SHA}") and the image tag it gives for one build
// (docs/build.md). check_tag_rule validates a rule when the service is saved; render_tag fills
// in a build's values and turns the result into a valid Docker tag.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace kiwi {

// The variables a tag rule may use.
inline constexpr std::string_view tag_variables[] = {"BRANCH", "SHORT_SHA", "SHA", "TAG",
                                                    "BUILD_NUMBER", "TIMESTAMP", "SERVICE"};

// Empty when valid, else what is wrong (an unknown or malformed ${...}).
std::string check_tag_rule(std::string_view rule);

// One build's values. Empty strings (and an absent build number) render as nothing.
struct tag_values {
  std::string branch;    // ${BRANCH}: "feature/login"; empty on a tag build
  std::string sha;       // ${SHA}: the 40-hex commit; ${SHORT_SHA} is its first 7 characters
  std::string tag;       // ${TAG}: "v1.2.0"; empty on a branch build
  std::string service;   // ${SERVICE}
  std::optional<std::uint64_t> build_number;                 // ${BUILD_NUMBER}
  std::chrono::system_clock::time_point time;                // ${TIMESTAMP}
};

struct tag_error {
  std::string message;  // what the user reads, e.g. the rule gives an empty tag for this build
};

// ${TIMESTAMP}: UTC, ISO 8601 basic format, sortable and valid in a tag: 20250114T093005Z.
std::string tag_timestamp(std::chrono::system_clock::time_point time);

// A valid Docker tag, [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, made from any text: invalid characters
// become '-', leading and trailing '.' and '-' are dropped, and a result longer than 128
// characters keeps its first 119 and ends with '-' and 8 hex digits of a hash of the whole, so
// two long names sharing a prefix still differ. Empty when nothing valid is left.
std::string sanitize_tag(std::string_view text);

bool is_valid_tag(std::string_view tag);

// The rule with the build's values, sanitized. An error for an invalid rule, or when the result
// is empty (e.g. "${TAG}" on a branch build): an empty variable is not an error by itself, so
// "${BRANCH}${TAG}" serves both kinds of build.
std::variant<std::string, tag_error> render_tag(std::string_view rule, const tag_values& values);

}  // namespace kiwi
