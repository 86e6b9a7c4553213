#include "common/config.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace kiwi {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw config_error("config key \"" + key + "\": " + what);
}

// Unknown keys are errors: a misspelt option must not silently fall back to its default.
void reject_unknown(const json& obj, const std::string& where, std::set<std::string> known) {
  for (const auto& [key, value] : obj.items()) {
    if (!known.contains(key)) {
      fail(where.empty() ? key : where + "." + key, "unknown key; see docs/configuration.md");
    }
  }
}

const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string get_string(const json& obj, const char* key, const std::string& path, bool required,
                       std::string fallback = {}) {
  const json* v = member(obj, key);
  if (v == nullptr) {
    if (required) {
      fail(path, "is required");
    }
    return fallback;
  }
  if (!v->is_string()) {
    fail(path, "must be a string");
  }
  return v->get<std::string>();
}

bool get_bool(const json& obj, const char* key, const std::string& path, bool fallback) {
  const json* v = member(obj, key);
  if (v == nullptr) {
    return fallback;
  }
  if (!v->is_boolean()) {
    fail(path, "must be true or false");
  }
  return v->get<bool>();
}

std::uint64_t get_uint(const json& obj, const char* key, const std::string& path,
                       std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
  const json* v = member(obj, key);
  if (v == nullptr) {
    return fallback;
  }
  if (!v->is_number_integer() || (v->is_number_integer() && v->get<std::int64_t>() < 0)) {
    fail(path, "must be a non-negative integer");
  }
  auto n = v->get<std::uint64_t>();
  if (n < min || n > max) {
    fail(path, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                   " (got " + std::to_string(n) + ")");
  }
  return n;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

bool has_scheme(std::string_view url, std::string_view scheme) { return url.starts_with(scheme); }

service_config parse_service(const json& j, std::size_t index, const std::filesystem::path& base) {
  const std::string at = "services[" + std::to_string(index) + "]";
  if (!j.is_object()) {
    fail(at, "must be an object");
  }
  reject_unknown(j, at,
                 {"name", "git_url", "branch", "token", "token_file", "git_username",
                  "webhook_secret", "build_tags", "cancel_superseded", "max_concurrent_builds"});
  service_config s;
  s.name = get_string(j, "name", at + ".name", true);
  if (!is_dns1123_label(s.name)) {
    fail(at + ".name", "\"" + s.name +
                           "\" is not a DNS-1123 label: use 1-63 lowercase letters, digits and "
                           "'-', starting and ending with a letter or digit (e.g. user-api)");
  }
  const std::string named = "services[" + s.name + "]";
  s.git_url = get_string(j, "git_url", named + ".git_url", true);
  if (!(has_scheme(s.git_url, "https://") || has_scheme(s.git_url, "http://") ||
        has_scheme(s.git_url, "ssh://") || has_scheme(s.git_url, "git://") ||
        has_scheme(s.git_url, "file://"))) {
    fail(named + ".git_url", "must start with https://, http://, ssh://, git:// or file://");
  }
  if (auto at_sign = s.git_url.find('@'); at_sign != std::string::npos &&
                                          has_scheme(s.git_url, "http") &&
                                          s.git_url.find(':', s.git_url.find("//") + 2) < at_sign) {
    fail(named + ".git_url", "must not embed credentials; put the token in \"token\" or "
                             "\"token_file\"");
  }
  s.branch = get_string(j, "branch", named + ".branch", true);
  if (s.branch.empty() || s.branch.starts_with("refs/")) {
    fail(named + ".branch", "must be a branch name such as \"main\" (without refs/heads/)");
  }
  const bool has_token = member(j, "token") != nullptr;
  const bool has_token_file = member(j, "token_file") != nullptr;
  if (has_token && has_token_file) {
    fail(named + ".token", "give either \"token\" or \"token_file\", not both");
  }
  if (has_token) {
    s.token = get_string(j, "token", named + ".token", true);
  } else if (has_token_file) {
    std::filesystem::path p = get_string(j, "token_file", named + ".token_file", true);
    if (p.is_relative()) {
      p = base / p;
    }
    std::ifstream in(p);
    if (!in) {
      fail(named + ".token_file", "cannot read " + p.string());
    }
    std::stringstream buf;
    buf << in.rdbuf();
    s.token = trim(buf.str());
    if (s.token.empty()) {
      fail(named + ".token_file", p.string() + " is empty");
    }
  }
  s.git_username = get_string(j, "git_username", named + ".git_username", false);
  s.webhook_secret = get_string(j, "webhook_secret", named + ".webhook_secret", true);
  if (s.webhook_secret.size() < 16) {
    fail(named + ".webhook_secret", "must be at least 16 characters (use a long random string)");
  }
  s.build_tags = get_bool(j, "build_tags", named + ".build_tags", false);
  s.cancel_superseded = get_bool(j, "cancel_superseded", named + ".cancel_superseded", true);
  s.max_concurrent_builds = static_cast<unsigned>(
      get_uint(j, "max_concurrent_builds", named + ".max_concurrent_builds", 1, 1, 1000));
  return s;
}

}  // namespace

std::string redis_endpoint::describe() const {
  if (!unix_path.empty()) {
    return "unix://" + unix_path;
  }
  return "redis://" + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

bool is_dns1123_label(std::string_view name) {
  if (name.empty() || name.size() > 63) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-') {
      return false;
    }
  }
  return alnum(name.front()) && alnum(name.back());
}

redis_endpoint parse_redis_url(std::string_view url) {
  redis_endpoint ep;
  if (url.starts_with("unix://")) {
    ep.unix_path = std::string(url.substr(7));
    if (ep.unix_path.empty() || ep.unix_path.front() != '/') {
      fail("redis", "a unix URL needs an absolute socket path: unix:///path/redis.sock");
    }
    return ep;
  }
  if (!url.starts_with("redis://")) {
    fail("redis", "must be unix:///path/redis.sock or redis://host:port/db");
  }
  std::string_view rest = url.substr(8);
  if (rest.find('@') != std::string_view::npos) {
    fail("redis", "passwords in the Redis URL are not supported yet");
  }
  std::string_view hostport = rest.substr(0, rest.find('/'));
  if (rest.find('/') != std::string_view::npos) {
    std::string_view db = rest.substr(rest.find('/') + 1);
    if (!db.empty()) {
      try {
        std::size_t used = 0;
        ep.db = std::stoi(std::string(db), &used);
        if (used != db.size() || ep.db < 0) {
          throw std::invalid_argument("db");
        }
      } catch (const std::exception&) {
        fail("redis", "the database after '/' must be a number (redis://host:6379/0)");
      }
    }
  }
  auto colon = hostport.rfind(':');
  ep.host = std::string(hostport.substr(0, colon));
  if (colon != std::string_view::npos) {
    try {
      std::size_t used = 0;
      std::string p(hostport.substr(colon + 1));
      int port = std::stoi(p, &used);
      if (used != p.size() || port <= 0 || port > 65535) {
        throw std::invalid_argument("port");
      }
      ep.port = static_cast<unsigned short>(port);
    } catch (const std::exception&) {
      fail("redis", "the port must be a number between 1 and 65535");
    }
  }
  if (ep.host.empty()) {
    fail("redis", "the host is missing (redis://127.0.0.1:6379/0)");
  }
  return ep;
}

const service_config* kiwi_config::find_service(std::string_view name) const {
  for (const auto& s : services) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

kiwi_config parse_config(std::string_view json_text, const std::filesystem::path& base_dir) {
  json root = json::parse(json_text, nullptr, false);
  if (root.is_discarded()) {
    throw config_error("config is not valid JSON (check for trailing commas and quotes)");
  }
  if (!root.is_object()) {
    throw config_error("config must be a JSON object");
  }
  reject_unknown(root, "",
                 {"listen", "redis", "data_dir", "max_body_bytes", "http", "redis_timeout_ms",
                  "worker", "queue", "services"});
  kiwi_config c;

  std::string listen = get_string(root, "listen", "listen", false, "127.0.0.1:8080");
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    fail("listen", "must be host:port, e.g. 127.0.0.1:8080");
  }
  c.listen_host = listen.substr(0, colon);
  if (c.listen_host.size() > 2 && c.listen_host.front() == '[' && c.listen_host.back() == ']') {
    c.listen_host = c.listen_host.substr(1, c.listen_host.size() - 2);
  }
  try {
    std::size_t used = 0;
    std::string p = listen.substr(colon + 1);
    int port = std::stoi(p, &used);
    if (used != p.size() || port < 0 || port > 65535) {
      throw std::invalid_argument("port");
    }
    c.listen_port = static_cast<unsigned short>(port);
  } catch (const std::exception&) {
    fail("listen", "the port must be a number between 0 and 65535");
  }

  c.redis = parse_redis_url(get_string(root, "redis", "redis", true));
  std::filesystem::path data_dir = get_string(root, "data_dir", "data_dir", true);
  if (data_dir.empty()) {
    fail("data_dir", "must not be empty");
  }
  c.data_dir = data_dir.is_relative() ? base_dir / data_dir : data_dir;
  c.max_body_bytes = get_uint(root, "max_body_bytes", "max_body_bytes", c.max_body_bytes, 1024,
                              1024ull * 1024 * 1024);
  c.redis_timeout = std::chrono::milliseconds(
      get_uint(root, "redis_timeout_ms", "redis_timeout_ms", 800, 10, 60'000));

  if (const json* h = member(root, "http")) {
    if (!h->is_object()) {
      fail("http", "must be an object");
    }
    reject_unknown(*h, "http",
                   {"threads", "max_connections", "header_timeout_ms", "body_timeout_ms",
                    "idle_timeout_ms", "shutdown_grace_ms"});
    c.http.threads = static_cast<unsigned>(get_uint(*h, "threads", "http.threads", 1, 1, 64));
    c.http.max_connections =
        get_uint(*h, "max_connections", "http.max_connections", 2048, 1, 1'000'000);
    using ms = std::chrono::milliseconds;
    c.http.header_timeout =
        ms(get_uint(*h, "header_timeout_ms", "http.header_timeout_ms", 10'000, 10, 3'600'000));
    c.http.body_timeout =
        ms(get_uint(*h, "body_timeout_ms", "http.body_timeout_ms", 30'000, 10, 3'600'000));
    c.http.idle_timeout =
        ms(get_uint(*h, "idle_timeout_ms", "http.idle_timeout_ms", 60'000, 10, 3'600'000));
    c.http.shutdown_grace =
        ms(get_uint(*h, "shutdown_grace_ms", "http.shutdown_grace_ms", 15'000, 0, 3'600'000));
  }

  if (const json* w = member(root, "worker")) {
    if (!w->is_object()) {
      fail("worker", "must be an object");
    }
    reject_unknown(*w, "worker",
                   {"concurrency", "blocking_threads", "clone_timeout_s", "keep_workspaces",
                    "drain_timeout_ms"});
    c.worker.concurrency =
        static_cast<unsigned>(get_uint(*w, "concurrency", "worker.concurrency", 4, 1, 1024));
    c.worker.blocking_threads = static_cast<unsigned>(
        get_uint(*w, "blocking_threads", "worker.blocking_threads", 4, 1, 256));
    c.worker.clone_timeout = std::chrono::seconds(
        get_uint(*w, "clone_timeout_s", "worker.clone_timeout_s", 30, 1, 3600));
    c.worker.keep_workspaces = get_bool(*w, "keep_workspaces", "worker.keep_workspaces", false);
    c.worker.drain_timeout = std::chrono::milliseconds(
        get_uint(*w, "drain_timeout_ms", "worker.drain_timeout_ms", 30'000, 0, 3'600'000));
  }

  if (const json* q = member(root, "queue")) {
    if (!q->is_object()) {
      fail("queue", "must be an object");
    }
    reject_unknown(*q, "queue",
                   {"visibility_timeout_ms", "max_attempts", "retry_base_ms", "retry_max_ms"});
    using ms = std::chrono::milliseconds;
    c.queue.visibility_timeout = ms(get_uint(*q, "visibility_timeout_ms",
                                             "queue.visibility_timeout_ms", 60'000, 500,
                                             86'400'000));
    c.queue.max_attempts =
        static_cast<unsigned>(get_uint(*q, "max_attempts", "queue.max_attempts", 3, 1, 100));
    c.queue.retry_base =
        ms(get_uint(*q, "retry_base_ms", "queue.retry_base_ms", 2'000, 1, 3'600'000));
    c.queue.retry_max =
        ms(get_uint(*q, "retry_max_ms", "queue.retry_max_ms", 300'000, 1, 86'400'000));
    if (c.queue.retry_max < c.queue.retry_base) {
      fail("queue.retry_max_ms", "must be at least queue.retry_base_ms");
    }
  }

  if (const json* s = member(root, "services")) {
    if (!s->is_array()) {
      fail("services", "must be a list of services");
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < s->size(); ++i) {
      service_config svc = parse_service((*s)[i], i, base_dir);
      if (!seen.insert(svc.name).second) {
        fail("services[" + std::to_string(i) + "].name",
             "\"" + svc.name + "\" is declared twice; service names must be unique");
      }
      if (svc.git_username.empty()) {
        svc.git_username = svc.git_url.find("github") != std::string::npos ? "x-access-token"
                                                                           : "oauth2";
      }
      c.services.push_back(std::move(svc));
    }
  }
  return c;
}

kiwi_config load_config(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    throw config_error("cannot read config file " + file.string());
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto base = std::filesystem::absolute(file).parent_path();
  return parse_config(buf.str(), base);
}

}  // namespace kiwi
