#include "daemon/api/reply.hpp"

#include <stdexcept>

#include "common/base/text.hpp"
#include "common/security/secret_box.hpp"

namespace kiwi {

using json = nlohmann::json;

namespace {

std::string percent_decoded(std::string_view s) {
  constexpr auto hex = hex_digit_value;
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

const std::string& api_request::path_param(std::string_view name) const {
  for (const auto& [key, value] : path_params) {
    if (key == name) {
      return value;
    }
  }
  throw std::logic_error("route has no path parameter " + std::string(name));
}

std::optional<std::string> api_request::find_query(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view kv = q.substr(0, amp);
    if (auto eq = kv.find('='); eq != std::string_view::npos && kv.substr(0, eq) == name) {
      return percent_decoded(kv.substr(eq + 1));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    q = q.substr(amp + 1);
  }
  return std::nullopt;
}

std::string api_request::query_or(std::string_view name, std::string fallback) const {
  return find_query(name).value_or(std::move(fallback));
}

json parse_body(const api_request& req) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw api_error{400, "the request body must be a JSON object", ""};
  }
  return j;
}

json parse_optional_body(const api_request& req) {
  return req.body.empty() ? json::object() : parse_body(req);
}

void require_role(api_role have, api_role need) {
  if (!role_allows(have, need)) {
    throw api_error{403,
                    "this needs the " + std::string(to_string(need)) + " role; your token has " +
                        std::string(to_string(have)),
                    ""};
  }
}

void check(const boost::system::error_code& ec) {
  if (ec) {
    throw api_error{503, "Redis is unavailable (" + ec.message() + "); try again", ""};
  }
}

void strip_read_only(json& body) {
  body.erase("source");
  body.erase("webhook_url");
}

json with_source(json j, bool read_only) {
  j["source"] = read_only ? "config" : "api";
  return j;
}

boost::asio::thread_pool& blocking_pool() {
  static boost::asio::thread_pool pool(2);  // connection tests: libgit2 blocks
  return pool;
}

std::string random_secret() { return secret_box::generate_key_hex(); }

boost::asio::awaitable<service_config> existing_service(api_context& ctx, const std::string& name) {
  auto [ec, svc] = co_await find_service(ctx.config, ctx.store, name);
  check(ec);
  if (!svc) {
    throw api_error{404, "no service named \"" + name + "\"", ""};
  }
  co_return *svc;
}

}  // namespace kiwi
