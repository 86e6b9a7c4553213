#include "common/push_event.hpp"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <optional>

namespace kiwi {

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

std::string first_line(std::string_view message) {
  auto line = message.substr(0, message.find('\n'));
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return std::string(line);
}

// A payload value quoted for an error message, cut short so that errors stay short.
std::string quote_excerpt(std::string_view value) {
  constexpr std::size_t max_length = 80;
  if (value.size() > max_length) {
    return "\"" + std::string(value.substr(0, max_length)) + "...\"";
  }
  return "\"" + std::string(value) + "\"";
}

std::string lacks(std::string_view path) {
  return "push payload lacks \"" + std::string(path) + "\"";
}

std::string not_a(std::string_view path, std::string_view what) {
  return "\"" + std::string(path) + "\" is not " + std::string(what);
}

// A member of obj, or nullptr when absent or null.
const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

// Optional string member: absent/null leaves out untouched; another type is an error.
std::optional<std::string> read_string(const json& obj, const char* key, std::string_view path,
                                       std::string& out) {
  const json* v = member(obj, key);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_string()) {
    return not_a(path, "a string");
  }
  out = v->get_ref<const std::string&>();
  return std::nullopt;
}

std::optional<std::string> require_string(const json& obj, const char* key, std::string_view path,
                                          std::string& out) {
  if (member(obj, key) == nullptr) {
    return lacks(path);
  }
  return read_string(obj, key, path, out);
}

// Optional nested string obj[outer][inner].
std::optional<std::string> read_nested_string(const json& obj, const char* outer,
                                              const char* inner, std::string_view path,
                                              std::string& out) {
  const json* o = member(obj, outer);
  if (o == nullptr) {
    return std::nullopt;
  }
  if (!o->is_object()) {
    return not_a(outer, "an object");
  }
  return read_string(*o, inner, path, out);
}

std::optional<std::string> require_nested_string(const json& obj, const char* outer,
                                                 const char* inner, std::string_view path,
                                                 std::string& out) {
  const json* o = member(obj, outer);
  if (o == nullptr) {
    return lacks(path);
  }
  if (!o->is_object()) {
    return not_a(outer, "an object");
  }
  return require_string(*o, inner, path, out);
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

// The members Kiwi reads; the parser skips all others (most of a payload) without building them.
struct kept_members {
  std::initializer_list<std::string_view> top;  // members of the payload object
  std::initializer_list<std::pair<std::string_view, std::string_view>> nested;  // parent, member
};

const kept_members github_members = {
    {"ref", "before", "after", "deleted", "commits", "head_commit", "pusher", "repository"},
    {{"head_commit", "message"}, {"pusher", "name"}, {"repository", "full_name"}}};

const kept_members gitlab_members = {
    {"object_kind", "ref", "before", "after", "commits", "total_commits_count", "user_username",
     "project"},
    {{"project", "path_with_namespace"}}};

bool contains(std::initializer_list<std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Converts a (small) simdjson value into nlohmann JSON. depth and parent mirror the members Kiwi
// keeps: only those are converted, the rest of a payload is validated by simdjson and dropped.
json convert(simdjson::dom::element e, const kept_members& kept, int depth,
             std::string_view parent) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::ARRAY: {
      json a = json::array();
      simdjson::dom::array items;
      if (e.get_array().get(items) != simdjson::SUCCESS) {
        return nullptr;
      }
      for (auto item : items) {
        a.push_back(convert(item, kept, depth + 1, parent));
      }
      return a;
    }
    case element_type::OBJECT: {
      json o = json::object();
      simdjson::dom::object fields;
      if (e.get_object().get(fields) != simdjson::SUCCESS) {
        return nullptr;
      }
      for (auto field : fields) {
        bool keep = false;
        if (depth == 0) {
          keep = contains(kept.top, field.key);
        } else if (depth == 1) {
          keep = std::find(kept.nested.begin(), kept.nested.end(),
                           std::pair<std::string_view, std::string_view>(parent, field.key)) !=
                 kept.nested.end();
        } else if (depth == 2) {  // members of commits[i]
          keep = parent == "commits" && (field.key == "id" || field.key == "message");
        }
        if (keep) {
          o[std::string(field.key)] =
              convert(field.value, kept, depth + 1, depth == 0 ? field.key : parent);
        }
      }
      return o;
    }
    case element_type::INT64: {  // like nlohmann's parser: non-negative integers are unsigned
      std::int64_t n = e.get_int64().value_unsafe();
      return n >= 0 ? json(static_cast<std::uint64_t>(n)) : json(n);
    }
    case element_type::UINT64: return e.get_uint64().value_unsafe();
    case element_type::DOUBLE: return e.get_double().value_unsafe();
    case element_type::STRING: return std::string(e.get_string().value_unsafe());
    case element_type::BOOL: return e.get_bool().value_unsafe();
    case element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

// Parses body into a JSON object holding only the kept members, or sets error.
// simdjson validates the whole body at several GB/s; nlohmann only re-parses a body that failed,
// to explain why.
std::optional<json> parse_object(std::string_view body, const kept_members& kept,
                                 std::string& error) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    error = parse_error_text(body);
    return std::nullopt;
  }
  if (root.type() != simdjson::dom::element_type::OBJECT) {
    error = "push payload is not a JSON object";
    return std::nullopt;
  }
  return convert(root, kept, 0, {});
}

// Fields both providers share: ref, before, after, commits (messages checked, skip_ci set).
std::optional<std::string> parse_common(const json& doc, push_event& ev,
                                        const json*& commits_out) {
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

  commits_out = member(doc, "commits");
  if (commits_out == nullptr) {
    return std::nullopt;
  }
  if (!commits_out->is_array()) {
    return not_a("commits", "an array");
  }
  bool all_skip = !commits_out->empty();
  for (std::size_t i = 0; i < commits_out->size(); ++i) {
    const json& c = (*commits_out)[i];
    auto path = [i](std::string_view field) {
      return "commits[" + std::to_string(i) + "]" + std::string(field);
    };
    if (!c.is_object()) {
      return not_a(path(""), "an object");
    }
    const json* msg = member(c, "message");
    if (msg != nullptr && !msg->is_string()) {
      return not_a(path(".message"), "a string");
    }
    const json* id = member(c, "id");
    if (id != nullptr && !id->is_string()) {
      return not_a(path(".id"), "a string");
    }
    if (msg == nullptr || !has_skip_marker(msg->get_ref<const std::string&>())) {
      all_skip = false;
    }
  }
  ev.skip_ci = all_skip;
  ev.commit_count = commits_out->size();
  return std::nullopt;
}

std::string message_of(const json& commit) {
  const json* msg = member(commit, "message");
  return msg == nullptr ? std::string() : first_line(msg->get_ref<const std::string&>());
}

}  // namespace

push_parse_result parse_github_push(std::string_view body) {
  std::string error;
  auto doc = parse_object(body, github_members, error);
  if (!doc) {
    return error;
  }
  push_event ev;
  ev.provider = git_provider::github;
  const json* commits = nullptr;
  if (auto e = parse_common(*doc, ev, commits)) {
    return *e;
  }

  if (const json* deleted = member(*doc, "deleted")) {
    if (!deleted->is_boolean()) {
      return not_a("deleted", "a boolean");
    }
    ev.deleted = ev.deleted || deleted->get<bool>();
  }

  std::string head_message;
  if (auto e = read_nested_string(*doc, "head_commit", "message", "head_commit.message",
                                  head_message)) {
    return *e;
  }
  ev.head_message = first_line(head_message);

  if (auto e = read_nested_string(*doc, "pusher", "name", "pusher.name", ev.pusher)) {
    return *e;
  }
  if (auto e = require_nested_string(*doc, "repository", "full_name", "repository.full_name",
                                     ev.repository)) {
    return *e;
  }
  return ev;
}

push_parse_result parse_gitlab_push(std::string_view body) {
  std::string error;
  auto doc = parse_object(body, gitlab_members, error);
  if (!doc) {
    return error;
  }
  std::string kind;
  if (auto e = read_string(*doc, "object_kind", "object_kind", kind)) {
    return *e;
  }
  if (!kind.empty() && kind != "push" && kind != "tag_push") {
    return "\"object_kind\" is " + quote_excerpt(kind) + ", not \"push\" or \"tag_push\"";
  }

  push_event ev;
  ev.provider = git_provider::gitlab;
  const json* commits = nullptr;
  if (auto e = parse_common(*doc, ev, commits)) {
    return *e;
  }

  // GitLab lists at most 20 commits; total_commits_count is the real number.
  if (const json* total = member(*doc, "total_commits_count")) {
    if (!total->is_number_unsigned()) {
      return not_a("total_commits_count", "a non-negative integer");
    }
    ev.commit_count = total->get<std::size_t>();
  }

  if (commits != nullptr && !commits->empty()) {
    const json* head = &commits->back();
    for (const json& c : *commits) {
      const json* id = member(c, "id");
      if (id != nullptr && id->get_ref<const std::string&>() == ev.after) {
        head = &c;
        break;
      }
    }
    ev.head_message = message_of(*head);
  }

  if (auto e = read_string(*doc, "user_username", "user_username", ev.pusher)) {
    return *e;
  }
  if (auto e = require_nested_string(*doc, "project", "path_with_namespace",
                                     "project.path_with_namespace", ev.repository)) {
    return *e;
  }
  return ev;
}

}  // namespace kiwi
