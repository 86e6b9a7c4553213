#include "common/config/redis_url.hpp"

#include <fstream>

#include "common/base/json_fields.hpp"
#include "common/base/text.hpp"

namespace kiwi {
namespace {

using json = nlohmann::json;
using namespace json_fields;

std::string decoded(std::string_view s, const char* what) {
  auto d = percent_decode(s);
  if (!d) {
    fail("redis", std::string("the ") + what +
                      " has a malformed %-escape (write a '%' as %25, '@' as %40, ':' as %3A, "
                      "'/' as %2F)");
  }
  return *d;
}

// "user:password" (either part optional) before the '@'.
void parse_userinfo(std::string_view info, redis_endpoint& ep) {
  const auto colon = info.find(':');
  ep.username = decoded(info.substr(0, colon), "user name in the URL");
  if (colon != std::string_view::npos) {
    ep.password = decoded(info.substr(colon + 1), "password in the URL");
  }
  if (!ep.password.empty()) {
    ep.password_source = "redis";
  }
}

int parse_db(std::string_view db) {
  int n = 0;
  try {
    std::size_t used = 0;
    n = std::stoi(std::string(db), &used);
    if (used != db.size() || n < 0) {
      throw std::invalid_argument("db");
    }
  } catch (const std::exception&) {
    fail("redis", "the database after '/' must be a number (redis://host:6379/0)");
  }
  return n;
}

void parse_host_port(std::string_view hostport, redis_endpoint& ep) {
  std::optional<std::string_view> port;
  if (hostport.starts_with('[')) {  // [::1]:6379
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) {
      fail("redis", "an IPv6 address needs its closing ']' (redis://[::1]:6379/0)");
    }
    ep.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        fail("redis", "expected ':port' after the IPv6 address");
      }
      port = after.substr(1);
    }
  } else {
    const auto colon = hostport.rfind(':');
    ep.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
    }
  }
  if (port) {  // else 6379
    try {
      std::size_t used = 0;
      std::string p(*port);
      int n = std::stoi(p, &used);
      if (used != p.size() || n <= 0 || n > 65535) {
        throw std::invalid_argument("port");
      }
      ep.port = static_cast<unsigned short>(n);
    } catch (const std::exception&) {
      fail("redis", "the port must be a number between 1 and 65535");
    }
  }
  if (ep.host.empty()) {
    fail("redis", "the host is missing (redis://127.0.0.1:6379/0)");
  }
}

redis_endpoint parse_url(std::string_view url) {
  redis_endpoint ep;
  if (url.find('?') != std::string_view::npos || url.find('#') != std::string_view::npos) {
    fail("redis", "query parameters are not supported: give the password in the URL's user "
                  "part or in redis_password_file, TLS settings in redis_tls");
  }
  if (url.starts_with("unix://")) {
    std::string_view rest = url.substr(7);
    if (!rest.starts_with('/')) {
      if (const auto at = rest.find("@/"); at != std::string_view::npos) {
        parse_userinfo(rest.substr(0, at), ep);
        rest.remove_prefix(at + 1);
      }
    }
    ep.unix_path = std::string(rest);
    if (ep.unix_path.empty() || ep.unix_path.front() != '/') {
      fail("redis", "a unix URL needs an absolute socket path: unix:///path/redis.sock "
                    "(with a user: unix://user@/path/redis.sock)");
    }
    return ep;
  }
  std::string_view rest;
  if (url.starts_with("redis://")) {
    rest = url.substr(8);
  } else if (url.starts_with("rediss://")) {
    rest = url.substr(9);
    ep.tls = true;
  } else {
    fail("redis", "must be unix:///path/redis.sock, redis://[user:password@]host:port/db or "
                  "rediss://[user:password@]host:port/db (TLS)");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    parse_userinfo(authority.substr(0, at), ep);
    authority.remove_prefix(at + 1);
  }
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    ep.db = parse_db(rest.substr(slash + 1));
  }
  parse_host_port(authority, ep);
  return ep;
}

std::filesystem::path file_in(const json& tls, const char* key, const std::filesystem::path& base) {
  const std::string path = std::string("redis_tls.") + key;
  std::filesystem::path p = get_string(tls, key, path, false);
  if (p.empty()) {
    return p;
  }
  if (p.is_relative()) {
    p = base / p;
  }
  if (!std::ifstream(p)) {
    fail(path, "cannot read " + p.string());
  }
  return p;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? hex_digit_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_digit_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string redis_endpoint::describe() const {
  const std::string user = username.empty() ? "" : username + "@";
  if (!unix_path.empty()) {
    return "unix://" + user + unix_path;
  }
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "rediss://" : "redis://") + user + (v6 ? "[" + host + "]" : host) +
         ":" + std::to_string(port) + "/" + std::to_string(db);
}

redis_endpoint parse_redis_url(std::string_view url) {
  try {
    return parse_url(url);
  } catch (const field_error& e) {
    throw config_error("config key \"" + e.field + "\": " + e.what());
  }
}

redis_endpoint redis_endpoint_from_config(const json& root, const std::filesystem::path& base_dir) {
  redis_endpoint ep = parse_url(get_string(root, "redis", "redis", true));
  const std::string file = get_string(root, "redis_password_file", "redis_password_file", false);
  if (!file.empty()) {
    if (!ep.password.empty()) {
      fail("redis_password_file", "the redis URL already holds a password: give it in one "
                                  "place (the file keeps it out of the config)");
    }
    ep.password = read_file_field(file, base_dir.string(), "redis_password_file");
    ep.password_source = "redis_password_file";
  }
  if (!ep.username.empty() && ep.password.empty()) {
    fail("redis", "the URL names Redis user \"" + ep.username +
                      "\" but no password: add it to the URL or set redis_password_file");
  }
  if (const json* tls = member(root, "redis_tls")) {
    if (!tls->is_object()) {
      fail("redis_tls", "must be an object: {\"ca_file\", \"cert_file\", \"key_file\", "
                        "\"server_name\"}");
    }
    if (!ep.tls) {
      fail("redis_tls", "is only used with a rediss:// URL: change \"redis\" to rediss://...");
    }
    reject_unknown(*tls, "redis_tls", {"ca_file", "cert_file", "key_file", "server_name"});
    ep.tls_options.ca_file = file_in(*tls, "ca_file", base_dir);
    ep.tls_options.cert_file = file_in(*tls, "cert_file", base_dir);
    ep.tls_options.key_file = file_in(*tls, "key_file", base_dir);
    ep.tls_options.server_name = get_string(*tls, "server_name", "redis_tls.server_name", false);
    if (ep.tls_options.cert_file.empty() != ep.tls_options.key_file.empty()) {
      fail("redis_tls", "cert_file and key_file go together (a client certificate and its key)");
    }
  }
  return ep;
}

}  // namespace kiwi
