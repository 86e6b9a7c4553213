#pragma once
// The fields of a push payload that GitHub and GitLab share, and the readers each provider's
// parser uses for its own fields. The payload is read straight from simdjson's document (no
// tree is built); every reader returns an error a person can act on ("push payload lacks
// \"ref\"", "\"after\" is not a 40-character commit sha") or nullopt when all went well.

#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "daemon/webhook/push_event.hpp"

namespace kiwi::webhook {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// Parses body into simdjson's document of the calling thread (valid until its next parse), or
// sets error: "body is not valid JSON: <why>" or "push payload is not a JSON object".
std::optional<object> parse_object(std::string_view body, std::string& error);

// ref (branch or tag), before, after (deleted when all zeros) and commits (every message
// checked; skip_ci and commit_count set). commits: the list, when the payload has one.
std::optional<std::string> read_push_fields(object doc, push_event& ev,
                                            std::optional<array>& commits);

// A member of obj, or nothing when absent or null; the last of duplicate keys wins.
std::optional<element> member(object obj, std::string_view key);

// String member: absent/null leaves out untouched (read_) or is an error (require_); another
// type is an error. path names the field in messages.
std::optional<std::string> read_string(object obj, std::string_view key, std::string_view path,
                                       std::string& out);
std::optional<std::string> require_string(object obj, std::string_view key,
                                          std::string_view path, std::string& out);
// Nested string obj[outer][inner], likewise.
std::optional<std::string> read_nested_string(object obj, std::string_view outer,
                                              std::string_view inner, std::string_view path,
                                              std::string& out);
std::optional<std::string> require_nested_string(object obj, std::string_view outer,
                                                 std::string_view inner, std::string_view path,
                                                 std::string& out);

// "\"<path>\" is not <what>".
std::string not_a(std::string_view path, std::string_view what);
// A payload value quoted for an error message, cut short so that errors stay short.
std::string quote_excerpt(std::string_view value);
// The first line of a commit message, without a trailing '\r'.
std::string first_line(std::string_view message);

}  // namespace kiwi::webhook
