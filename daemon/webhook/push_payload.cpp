#include "daemon/webhook/push_payload.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace kiwi::webhook {

namespace {

using json = nlohmann::json;

constexpr std::string_view zero_sha = "0000000000000000000000000000000000000000";
constexpr std::string_view heads_prefix = "refs/heads/";
constexpr std::string_view tags_prefix = "refs/tags/";

bool is_commit_sha(std::string_view s) {
  if (s.size() != 40) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// needle must be lower case.
bool contains_ci(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char h, char n) { return ascii_lower(h) == n; });
  return it != haystack.end();
}

bool has_skip_marker(std::string_view message) {
  return contains_ci(message, "[skip ci]") || contains_ci(message, "[ci skip]");
}

std::string lacks(std::string_view path) {
  return "push payload lacks \"" + std::string(path) + "\"";
}

// Validating SAX handler that keeps the parser's error message; builds no DOM.
struct error_capture final : nlohmann::json_sax<json> {
  std::string message;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    message = e.what();
    return false;
  }
};

// Only on the failure path: parse again to learn why.
std::string parse_error_text(std::string_view body) {
  error_capture capture;
  (void)json::sax_parse(body, &capture);
  std::string_view what = capture.message;
  if (auto close = what.find("] "); what.starts_with("[json.exception.") &&
                                    close != std::string_view::npos) {
    what.remove_prefix(close + 2);
  }
  if (what.empty()) {
    return "body is not valid JSON";
  }
  return "body is not valid JSON: " + std::string(what);
}

}  // namespace

std::string first_line(std::string_view message) {
  auto line = message.substr(0, message.find('\n'));
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return std::string(line);
}

std::string quote_excerpt(std::string_view value) {
  constexpr std::size_t max_length = 80;
  if (value.size() > max_length) {
    return "\"" + std::string(value.substr(0, max_length)) + "...\"";
  }
  return "\"" + std::string(value) + "\"";
}

std::string not_a(std::string_view path, std::string_view what) {
  return "\"" + std::string(path) + "\" is not " + std::string(what);
}

// As when a JSON object is read into a map, the last of duplicate keys wins.
std::optional<element> member(object obj, std::string_view key) {
  std::optional<element> found;
  for (auto field : obj) {
    if (field.key == key) {
      found = field.value;
    }
  }
  if (found && found->is_null()) {
    return std::nullopt;
  }
  return found;
}

std::optional<std::string> read_string(object obj, std::string_view key, std::string_view path,
                                       std::string& out) {
  auto v = member(obj, key);
  if (!v) {
    return std::nullopt;
  }
  std::string_view text;
  if (v->get_string().get(text) != simdjson::SUCCESS) {
    return not_a(path, "a string");
  }
  out = text;
  return std::nullopt;
}

std::optional<std::string> require_string(object obj, std::string_view key,
                                          std::string_view path, std::string& out) {
  if (!member(obj, key)) {
    return lacks(path);
  }
  return read_string(obj, key, path, out);
}

std::optional<std::string> read_nested_string(object obj, std::string_view outer,
                                              std::string_view inner, std::string_view path,
                                              std::string& out) {
  auto o = member(obj, outer);
  if (!o) {
    return std::nullopt;
  }
  object nested;
  if (o->get_object().get(nested) != simdjson::SUCCESS) {
    return not_a(outer, "an object");
  }
  return read_string(nested, inner, path, out);
}

std::optional<std::string> require_nested_string(object obj, std::string_view outer,
                                                 std::string_view inner, std::string_view path,
                                                 std::string& out) {
  auto o = member(obj, outer);
  if (!o) {
    return lacks(path);
  }
  object nested;
  if (o->get_object().get(nested) != simdjson::SUCCESS) {
    return not_a(outer, "an object");
  }
  return require_string(nested, inner, path, out);
}

// simdjson validates the whole body at several GB/s; nlohmann only re-parses a body that
// failed, to explain why.
std::optional<object> parse_object(std::string_view body, std::string& error) {
  thread_local simdjson::dom::parser parser;
  element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    error = parse_error_text(body);
    return std::nullopt;
  }
  object doc;
  if (root.get_object().get(doc) != simdjson::SUCCESS) {
    error = "push payload is not a JSON object";
    return std::nullopt;
  }
  return doc;
}

std::optional<std::string> read_push_fields(object doc, push_event& ev,
                                            std::optional<array>& commits_out) {
  if (auto e = require_string(doc, "ref", "ref", ev.ref)) {
    return e;
  }
  std::string_view ref = ev.ref;
  if (ref.starts_with(heads_prefix) && ref.size() > heads_prefix.size()) {
    ev.branch = std::string(ref.substr(heads_prefix.size()));
  } else if (ref.starts_with(tags_prefix) && ref.size() > tags_prefix.size()) {
    ev.tag = std::string(ref.substr(tags_prefix.size()));
  } else {
    return "\"ref\" is not refs/heads/<branch> or refs/tags/<tag>: " + quote_excerpt(ev.ref);
  }

  for (auto [key, out] : std::array<std::pair<const char*, std::string*>, 2>{
           {{"before", &ev.before}, {"after", &ev.after}}}) {
    if (auto e = require_string(doc, key, key, *out)) {
      return e;
    }
    if (!is_commit_sha(*out)) {
      return not_a(key, "a 40-character commit sha");
    }
  }
  ev.deleted = ev.after == zero_sha;

  auto commits = member(doc, "commits");
  if (!commits) {
    return std::nullopt;
  }
  array list;
  if (commits->get_array().get(list) != simdjson::SUCCESS) {
    return not_a("commits", "an array");
  }
  commits_out = list;
  bool all_skip = true;
  std::size_t i = 0;
  for (element c : list) {
    auto path = [i](std::string_view field) {
      return "commits[" + std::to_string(i) + "]" + std::string(field);
    };
    object commit;
    if (c.get_object().get(commit) != simdjson::SUCCESS) {
      return not_a(path(""), "an object");
    }
    auto msg = member(commit, "message");
    std::string_view message;
    if (msg && msg->get_string().get(message) != simdjson::SUCCESS) {
      return not_a(path(".message"), "a string");
    }
    auto id = member(commit, "id");
    if (id && !id->is_string()) {
      return not_a(path(".id"), "a string");
    }
    if (!msg || !has_skip_marker(message)) {
      all_skip = false;
    }
    ++i;
  }
  ev.skip_ci = i > 0 && all_skip;
  ev.commit_count = i;
  return std::nullopt;
}

}  // namespace kiwi::webhook
