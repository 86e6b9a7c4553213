#include "daemon/api.hpp"

#include <functional>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "common/queue/build_id.hpp"
#include "common/build/dockerfile.hpp"
#include "daemon/dockerfile_preview.hpp"
#include "common/http/http_client.hpp"
#include "common/base/json_fields.hpp"
#include "common/security/redact.hpp"
#include "common/redis/redis_keys.hpp"
#include "common/registry/registry_probe.hpp"
#include "common/git/remote_probe.hpp"
#include "daemon/runtime_probe.hpp"
#include "common/base/text.hpp"
#include "daemon/kept_secrets.hpp"
#include "common/security/url_authority.hpp"
#include "daemon/webhook_installer.hpp"
#include "common/security/webhook_signature.hpp"
#include "daemon/openapi_document.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

namespace kiwi {
namespace {

// An API error: becomes {"error": message, "field": field} with the status.
struct api_error {
  unsigned status;
  std::string message;
  std::string field;
  std::chrono::seconds retry_after{0};  // sent as Retry-After when set (429)
};

http_response error_of(const http_request& req, const api_error& e) {
  json body{{"error", e.message}};
  if (!e.field.empty()) {
    body["field"] = e.field;
  }
  http_response res = json_response(req, e.status, answer_json(body));
  if (e.retry_after.count() > 0) {
    res.set(http::field::retry_after, std::to_string(e.retry_after.count()));
  }
  return res;
}

http_response ok(const http_request& req, const json& body, unsigned status = 200) {
  return json_response(req, status, answer_json(body));
}

// The path after /api/v1/, split at '/'; the query string apart.
struct route {
  std::vector<std::string> parts;
  std::string query;
  bool is(std::initializer_list<std::string_view> pattern) const {
    if (pattern.size() != parts.size()) {
      return false;
    }
    std::size_t i = 0;
    for (auto p : pattern) {
      if (p != "*" && p != parts[i]) {
        return false;
      }
      ++i;
    }
    return true;
  }
  std::string param(std::string_view name, std::string fallback = {}) const {
    return find_param(name).value_or(std::move(fallback));
  }
  // The query parameter's value, percent-decoded ("feature%2Flogin" is "feature/login"); nullopt
  // when absent. '+' stays '+' (git refs may contain it).
  std::optional<std::string> find_param(std::string_view name) const {
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

 private:
  static std::string percent_decoded(std::string_view s) {
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
};

route parse_route(std::string_view target) {
  route r;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    r.query = std::string(target.substr(q + 1));
    target = target.substr(0, q);
  }
  target.remove_prefix(std::string_view("/api/v1/").size());
  while (!target.empty()) {
    auto slash = target.find('/');
    r.parts.emplace_back(target.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    target.remove_prefix(slash + 1);
  }
  return r;
}

json parse_body(const http_request& req) {
  json j = json::parse(req.body(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw api_error{400, "the request body must be a JSON object", ""};
  }
  return j;
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

// A resource parsed from the API's JSON; field errors become 422 with the field.
template <class Parse>
auto parse_resource(Parse parse, const json& body) {
  parse_context ctx;
  ctx.webhook_secret_required = false;
  try {
    return parse(body, ctx);
  } catch (const field_error& e) {
    throw api_error{422, e.field.empty() ? std::string(e.what())
                                         : e.field + ": " + e.what(),
                    e.field};
  }
}

// The stored secrets a PUT keeps (common/kept_secrets.hpp); a secret whose host changed is a
// 422 naming it.
template <class Stored>
void keep_stored_secrets(json& body, const Stored& stored) {
  try {
    keep_secrets(body, stored);
  } catch (const field_error& e) {
    throw api_error{422, e.field + ": " + e.what(), e.field};
  }
}

asio::thread_pool& blocking_pool() {
  static asio::thread_pool pool(2);  // connection tests: libgit2 blocks
  return pool;
}

std::string random_secret() { return secret_box::generate_key_hex(); }

// What GET adds to a resource: a client may send it back in a PUT.
void strip_read_only(json& body) {
  body.erase("source");
  body.erase("webhook_url");
}

json with_source(json j, bool read_only) {
  j["source"] = read_only ? "config" : "api";
  return j;
}

// A Unix-ms timestamp of the build record; nullopt when absent or not a number.
std::optional<long long> unix_ms(const json& object, const char* key) {
  if (!object.contains(key) || !object[key].is_string()) {
    return std::nullopt;
  }
  const std::string& text = object[key].get_ref<const std::string&>();
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoll(text);
}

// The build record as JSON: scalar fields, and stages grouped from stage.<name>.<field>, each
// finished stage with its duration_ms, and the build's duration_ms from its first stage's start
// to its end. The list of a service's builds leaves out the stored Dockerfile (with_dockerfile).
json build_json(const field_list& fields, bool with_dockerfile = true) {
  json j = json::object();
  json stages = json::object();
  static const std::vector<std::string_view> hidden = {"delivery", "lease", "worker", "cancel"};
  for (const auto& [k, v] : fields) {
    if (k.starts_with("stage.")) {
      auto dot = k.find('.', 6);
      if (dot != std::string::npos) {
        stages[k.substr(6, dot - 6)][k.substr(dot + 1)] = v;
      }
      continue;
    }
    if (std::find(hidden.begin(), hidden.end(), k) != hidden.end() ||
        (!with_dockerfile && k == "dockerfile")) {
      continue;
    }
    j[k] = v;
  }
  std::optional<long long> first_start;
  for (auto& [name, stage] : stages.items()) {
    const auto started = unix_ms(stage, "started_at");
    const auto finished = unix_ms(stage, "finished_at");
    if (started && finished && *finished >= *started) {
      stage["duration_ms"] = *finished - *started;
    }
    if (started && (!first_start || *started < *first_start)) {
      first_start = started;
    }
  }
  if (const auto finished = unix_ms(j, "finished_at");
      finished && first_start && *finished >= *first_start) {
    j["duration_ms"] = *finished - *first_start;
  }
  j["stages"] = stages;
  return j;
}

// What a Dockerfile preview masks: the service's secrets and its registry's password.
redactor preview_secrets(const service_config& s, const std::optional<registry_config>& registry) {
  redactor secrets;
  for (const std::string* v : {&s.token, &s.webhook_secret, &s.ssh_key}) {
    secrets.add(*v);
  }
  if (registry) {
    secrets.add(registry->password, registry->username);
  }
  return secrets;
}

json preview_json(const std::string& service, const dockerfile_preview& p) {
  json j{{"service", service},
         {"ref", p.ref},
         {"sha", p.sha},
         {"fetched", p.fetched},
         {"mode", p.mode},
         {"dockerfile_path", p.dockerfile_path},
         {"context", p.context},
         {"dockerfile", p.dockerfile}};
  if (p.mode == "wizard") {
    j["dockerignore"] = p.dockerignore;
    j["repository_dockerignore"] = p.repository_dockerignore;
    j["generated_by"] = p.generated_by;
    j["detected"] = json{{"language", p.language},
                         {"framework", p.framework},
                         {"package_manager", p.package_manager}};
  }
  return j;
}

// 404 for an unknown ref; 422 for what the service's settings (credentials, URL, Dockerfile)
// must fix; 502 when the git server could not be reached or failed.
std::pair<unsigned, json> preview_error_json(const dockerfile_preview_error& e) {
  unsigned status = 422;
  if (e.kind == "ref_not_found") {
    status = 404;
  } else if (e.kind == "timeout" || e.kind == "other") {
    status = 502;
  }
  json j{{"error", e.message}, {"kind", e.kind}};
  for (const auto& [key, value] : {std::pair{"field", &e.field}, std::pair{"ref", &e.ref},
                                   std::pair{"sha", &e.sha}}) {
    if (!value->empty()) {
      j[key] = *value;
    }
  }
  return {status, j};
}

class api_handler {
 public:
  api_handler(const http_request& req, api_context& ctx, const std::string& client)
      : req_(req), ctx_(ctx), client_(client) {}

  asio::awaitable<std::optional<http_response>> check_access(api_role need) {
    try {
      role_ = co_await authenticate();
      require_role(role_, need);
    } catch (const api_error& e) {
      co_return error_of(req_, e);
    }
    co_return std::nullopt;
  }

  asio::awaitable<http_response> run() {
    try {
      co_return co_await dispatch();
    } catch (const api_error& e) {
      if (e.status >= 500) {
        spdlog::warn("api {} {}: {} {}", std::string(req_.method_string()),
                     std::string(req_.target()), e.status, e.message);
      }
      co_return error_of(req_, e);
    } catch (const secret_store_error& e) {
      spdlog::error("api: {}", e.what());
      co_return error_of(req_, api_error{500, e.what(), ""});
    } catch (const field_error& e) {  // a request body's field of the wrong type
      co_return error_of(req_, api_error{422, e.field + ": " + e.what(), e.field});
    } catch (const json::exception& e) {  // a body field read without json_fields
      spdlog::warn("api {} {}: 422 {}", std::string(req_.method_string()),
                   loggable(req_.target()), e.what());
      co_return error_of(req_, api_error{422, "a field of the request body has the wrong type (" +
                                                  std::string(e.what()) + ")", ""});
    } catch (const std::exception& e) {
      spdlog::error("api {} {}: 500 {}", std::string(req_.method_string()),
                    loggable(req_.target()), e.what());
      co_return error_of(req_, api_error{500, "internal error; kiwid's log has the details", ""});
    }
  }

 private:
  asio::awaitable<api_role> authenticate() {
    auto attempt = ctx_.throttle.begin(client_, auth_throttle::clock::now());
    if (attempt.refused()) {
      throw api_error{429,
                      "too many bad tokens from " + client_ + "; retry in " +
                          std::to_string(attempt.retry_after().count()) + " s",
                      "", attempt.retry_after()};
    }
    if (attempt.wait().count() > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor, attempt.wait());
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    auto header = req_[http::field::authorization];
    if (!header.starts_with("Bearer ") || header.size() <= 7) {
      attempt.failed(auth_throttle::clock::now());
      throw api_error{401, "missing bearer token: send Authorization: Bearer <token> (kiwictl "
                           "reads KIWI_TOKEN)", ""};
    }
    const std::string hash = api_token_hash(std::string_view(header).substr(7));
    if (constant_time_equal(hash, ctx_.admin_token_hash)) {
      co_return api_role::admin;
    }
    auto r = co_await ctx_.redis.command(redis_args("HGET", keys::resources("api_tokens"), hash),
                                         ctx_.config.redis_timeout);
    check(r.ec);
    if (r.value.type == redis_value::kind::string) {
      json t = json::parse(r.value.str, nullptr, false);
      if (auto role = parse_api_role(t.is_object() ? t.value("role", "") : ""); role) {
        co_return *role;
      }
    }
    attempt.failed(auth_throttle::clock::now());
    throw api_error{401, "invalid or revoked token", ""};
  }

  asio::awaitable<http_response> dispatch() {
    if (!ctx_.config.api.enabled) {
      throw api_error{404, "the API is disabled (api.enabled is false)", ""};
    }
    const route r = parse_route(std::string_view(req_.target().data(), req_.target().size()));
    role_ = co_await authenticate();
    std::string allowed;
    for (const auto& candidate : api_routes()) {
      if (!matches(candidate.path, r)) {
        continue;
      }
      if (candidate.method == req_.method_string() ||
          (candidate.method == "GET" && req_.method() == http::verb::head)) {
        co_return co_await candidate.call(*this, r);
      }
      allowed += (allowed.empty() ? "" : ", ") + std::string(candidate.method);
    }
    if (!allowed.empty()) {
      throw method(allowed);
    }
    throw api_error{404, "no such API route: " + std::string(req_.method_string()) + " " +
                             std::string(req_.target()) + " (see /api/v1/openapi.json)",
                    ""};
  }

  // "/services/{name}/builds" against the request's segments.
  static bool matches(std::string_view path, const route& r) {
    std::size_t i = 0;
    path.remove_prefix(1);
    while (!path.empty()) {
      auto slash = path.find('/');
      std::string_view seg = path.substr(0, slash);
      if (i >= r.parts.size() || (!seg.starts_with("{") && seg != r.parts[i]) ||
          (seg.starts_with("{") && r.parts[i].empty())) {
        return false;
      }
      ++i;
      path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    }
    return i == r.parts.size();
  }

 public:
  struct api_route {
    std::string_view method;
    std::string_view path;  // below /api/v1, OpenAPI style: /services/{name}
    std::function<asio::awaitable<http_response>(api_handler&, const route&)> call;
  };

  // Every route handle_api serves, in the order they are tried (docs/openapi.json lists the
  // same; a unit test compares the two).
  static const std::vector<api_route>& api_routes() {
    using h = api_handler;
    static const std::vector<api_route> table{
        {"GET", "/services", [](h& x, const route&) { return x.list_services(); }},
        {"POST", "/services", [](h& x, const route&) { return x.create_service(); }},
        {"POST", "/services/test-connection",
         [](h& x, const route&) { return x.test_connection_form(); }},
        {"GET", "/services/{name}", [](h& x, const route& r) { return x.show_service(r.parts[1]); }},
        {"PUT", "/services/{name}",
         [](h& x, const route& r) { return x.replace_service(r.parts[1]); }},
        {"DELETE", "/services/{name}",
         [](h& x, const route& r) { return x.delete_resource(resource_kind::service, r.parts[1]); }},
        {"POST", "/services/{name}/test-connection",
         [](h& x, const route& r) { return x.test_connection_saved(r.parts[1]); }},
        {"GET", "/services/{name}/webhook",
         [](h& x, const route& r) { return x.webhook_info(r.parts[1]); }},
        {"POST", "/services/{name}/webhook/rotate-secret",
         [](h& x, const route& r) { return x.rotate_secret(r.parts[1]); }},
        {"POST", "/services/{name}/webhook/install",
         [](h& x, const route& r) { return x.install_hook(r.parts[1]); }},
        {"GET", "/services/{name}/dockerfile/preview",
         [](h& x, const route& r) { return x.show_dockerfile_preview(r.parts[1], r); }},
        {"GET", "/services/{name}/builds",
         [](h& x, const route& r) { return x.list_builds(r.parts[1], r); }},
        {"POST", "/services/{name}/builds",
         [](h& x, const route& r) { return x.start_build(r.parts[1]); }},
        {"GET", "/builds/{id}", [](h& x, const route& r) { return x.show_build(r.parts[1]); }},
        {"GET", "/builds/{id}/logs", [](h& x, const route& r) { return x.build_log(r.parts[1]); }},
        {"POST", "/builds/{id}/cancel",
         [](h& x, const route& r) { return x.cancel_build(r.parts[1]); }},
        {"GET", "/queue", [](h& x, const route&) { return x.queue_stats(); }},
        {"GET", "/dead-letters", [](h& x, const route& r) { return x.dead_letters(r); }},
        {"POST", "/dead-letters/{id}/requeue",
         [](h& x, const route& r) { return x.requeue_dead(r.parts[1]); }},
        {"GET", "/registries",
         [](h& x, const route&) { return x.list_simple(resource_kind::registry); }},
        {"POST", "/registries",
         [](h& x, const route&) { return x.put_simple(resource_kind::registry, "", true); }},
        {"GET", "/registries/{name}",
         [](h& x, const route& r) { return x.show_simple(resource_kind::registry, r.parts[1]); }},
        {"PUT", "/registries/{name}",
         [](h& x, const route& r) {
           return x.put_simple(resource_kind::registry, r.parts[1], false);
         }},
        {"DELETE", "/registries/{name}",
         [](h& x, const route& r) {
           return x.delete_resource(resource_kind::registry, r.parts[1]);
         }},
        {"POST", "/registries/{name}/test",
         [](h& x, const route& r) { return x.test_registry(r.parts[1]); }},
        {"GET", "/runtimes",
         [](h& x, const route&) { return x.list_simple(resource_kind::runtime); }},
        {"POST", "/runtimes",
         [](h& x, const route&) { return x.put_simple(resource_kind::runtime, "", true); }},
        {"GET", "/runtimes/{name}",
         [](h& x, const route& r) { return x.show_simple(resource_kind::runtime, r.parts[1]); }},
        {"PUT", "/runtimes/{name}",
         [](h& x, const route& r) {
           return x.put_simple(resource_kind::runtime, r.parts[1], false);
         }},
        {"DELETE", "/runtimes/{name}",
         [](h& x, const route& r) {
           return x.delete_resource(resource_kind::runtime, r.parts[1]);
         }},
        {"POST", "/runtimes/{name}/test",
         [](h& x, const route& r) { return x.test_runtime(r.parts[1]); }},
        {"GET", "/tokens", [](h& x, const route&) { return x.list_tokens(); }},
        {"POST", "/tokens", [](h& x, const route&) { return x.create_token(); }},
        {"DELETE", "/tokens/{name}",
         [](h& x, const route& r) { return x.delete_token(r.parts[1]); }},
        {"GET", "/openapi.json", [](h& x, const route&) { return x.openapi(); }},
    };
    return table;
  }

 private:
  asio::awaitable<http_response> openapi() {
    require_role(role_, api_role::viewer);
    co_return json_response(req_, 200, std::string(openapi_document));
  }

  api_error method(std::string_view allowed) const {
    return api_error{405,
                     "method " + std::string(req_.method_string()) + " is not allowed here; use " +
                         std::string(allowed),
                     ""};
  }

  // --- services --------------------------------------------------------------------------

  asio::awaitable<service_config> existing_service(const std::string& name) {
    auto [ec, svc] = co_await find_service(ctx_.config, ctx_.store, name);
    check(ec);
    if (!svc) {
      throw api_error{404, "no service named \"" + name + "\"", ""};
    }
    co_return *svc;
  }

  json service_json(const service_config& s) const {
    json j = with_source(to_json(s), s.read_only);
    j["webhook_url"] = {{"github", ctx_.config.public_url + "/hooks/github/" + s.name},
                        {"gitlab", ctx_.config.public_url + "/hooks/gitlab/" + s.name}};
    return j;
  }

  asio::awaitable<http_response> list_services() {
    require_role(role_, api_role::viewer);
    auto [ec, stored] = co_await ctx_.store.services();
    check(ec);
    json items = json::array();
    for (const auto& s : ctx_.config.services) {
      items.push_back(service_json(s));
    }
    for (const auto& s : stored) {
      if (ctx_.config.find_service(s.name) == nullptr) {
        items.push_back(service_json(s));
      }
    }
    co_return ok(req_, json{{"items", items}});
  }

  asio::awaitable<http_response> show_service(const std::string& name) {
    require_role(role_, api_role::viewer);
    const service_config s = co_await existing_service(name);
    co_return ok(req_, service_json(s));
  }

  // References to registries and runtimes must exist (config or API).
  asio::awaitable<void> check_references(const service_config& s) {
    if (!s.registry.empty() && ctx_.config.find_registry(s.registry) == nullptr) {
      auto [ec, reg] = co_await ctx_.store.registry(s.registry);
      check(ec);
      if (!reg) {
        throw api_error{422, "registry: no registry named \"" + s.registry + "\"", "registry"};
      }
    }
    if (s.build_runtime != "local") {
      std::optional<runtime_config> rt;
      if (const auto* c = ctx_.config.find_runtime(s.build_runtime)) {
        rt = *c;
      } else {
        auto [ec, found] = co_await ctx_.store.runtime(s.build_runtime);
        check(ec);
        rt = found;
      }
      if (!rt || rt->type != "kubernetes") {
        throw api_error{422,
                        "build_runtime: \"" + s.build_runtime +
                            "\" is not a kubernetes runtime; use \"local\" for buildah",
                        "build_runtime"};
      }
    }
  }

  asio::awaitable<http_response> save_service(service_config s, bool create) {
    if (s.webhook_secret.empty()) {
      if (!create) {
        // Keep the current secret when an update does not send one.
        auto [ec, old] = co_await ctx_.store.service(s.name);
        check(ec);
        if (old) {
          s.webhook_secret = old->webhook_secret;
        }
      }
      if (s.webhook_secret.empty()) {
        s.webhook_secret = random_secret();
      }
    }
    co_await check_references(s);
    auto [ec, stored] = co_await ctx_.store.put(s, create);
    check(ec);
    if (!stored) {
      throw api_error{409, "a service named \"" + s.name + "\" already exists", "name"};
    }
    spdlog::info("api: service {} {}", s.name, create ? "registered" : "updated");
    co_return ok(req_, service_json(s), create ? 201 : 200);
  }

  asio::awaitable<http_response> create_service() {
    require_role(role_, api_role::admin);
    const json body = parse_body(req_);
    service_config s = parse_resource(parse_service, body);
    if (ctx_.config.find_service(s.name) != nullptr) {
      throw api_error{409, "service \"" + s.name + "\" is declared in the config file", "name"};
    }
    co_return co_await save_service(std::move(s), true);
  }

  asio::awaitable<http_response> replace_service(const std::string& name) {
    require_role(role_, api_role::admin);
    json body = parse_body(req_);
    if (ctx_.config.find_service(name) != nullptr) {
      throw api_error{409, "service \"" + name +
                               "\" is declared in the config file; change it there",
                      ""};
    }
    if (body.contains("name") && body["name"] != name) {
      throw api_error{422, "name: a service cannot be renamed; delete it and register it anew",
                      "name"};
    }
    body["name"] = name;
    strip_read_only(body);
    auto [ec, old] = co_await ctx_.store.service(name);
    check(ec);
    if (!old) {
      throw api_error{404, "no service named \"" + name + "\"", ""};
    }
    // Secrets shown as "***" (or left out) keep their stored value while the host stays.
    keep_stored_secrets(body, *old);
    service_config s = parse_resource(parse_service, body);
    co_return co_await save_service(std::move(s), false);
  }

  asio::awaitable<http_response> delete_resource(resource_kind kind, const std::string& name) {
    require_role(role_, api_role::admin);
    bool in_config = false;
    switch (kind) {
      case resource_kind::service: in_config = ctx_.config.find_service(name) != nullptr; break;
      case resource_kind::registry: in_config = ctx_.config.find_registry(name) != nullptr; break;
      case resource_kind::runtime: in_config = ctx_.config.find_runtime(name) != nullptr; break;
    }
    if (in_config) {
      throw api_error{409, std::string(to_string(kind)) + " \"" + name +
                               "\" is declared in the config file; remove it there",
                      ""};
    }
    auto [ec, removed] = co_await ctx_.store.remove(kind, name);
    check(ec);
    if (!removed) {
      throw api_error{404, "no " + std::string(to_string(kind)) + " named \"" + name + "\"", ""};
    }
    spdlog::info("api: {} {} deleted", to_string(kind), name);
    if (kind == resource_kind::service) {
      // kiwid's preview mirror of it goes too (the workers' mirrors are on their own disks).
      auto executor = co_await asio::this_coro::executor;
      auto remove = [dir = preview_mirror_dir(name)]() {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
        return true;
      };
      co_await run_blocking(blocking_pool(), executor, remove);
    }
    co_return ok(req_, json{{"deleted", name}});
  }

  std::filesystem::path preview_mirror_dir(const std::string& service) const {
    return ctx_.config.data_dir / "preview-mirrors" / (service + ".git");
  }

  // --- connection tests ------------------------------------------------------------------

  // ls-remote of the service's repository with its credentials, 10 s deadline.
  static probe_request probe_request_of(const service_config& s) {
    probe_request request;
    request.git_url = s.git_url;
    request.username = s.git_username;
    request.token = s.token;
    request.ssh_key = s.ssh_key;
    request.ssh_known_hosts = s.ssh_known_hosts;
    request.timeout = std::chrono::seconds(10);
    return request;
  }

  asio::awaitable<http_response> probe(const service_config& s) {
    const probe_request request = probe_request_of(s);
    auto executor = co_await asio::this_coro::executor;
    auto work = [request]() { return probe_remote(request); };
    const probe_result result = co_await run_blocking(blocking_pool(), executor, work);
    json answer;
    if (!result.ok && !role_allows(role_, api_role::admin) &&
        (result.error_kind == "timeout" || result.error_kind == "other")) {
      // Refused, silent, unresolvable or not git at all read the same to non-admins: the
      // connection test is not a port scanner of the Kiwi host's network.
      answer = json{{"ok", false},
                    {"error", "Could not reach a git server at " + endpoint_of(s.git_url) +
                                  ": check the URL, firewall settings and the git server "
                                  "status (an admin's connection test shows why)"},
                    {"kind", "unreachable"}};
    } else if (!result.ok) {
      answer = json{{"ok", false}, {"error", result.error}, {"kind", result.error_kind}};
    } else {
      answer = json{{"ok", true},
                    {"branches", result.branches},
                    {"default_branch", result.default_branch},
                    {"branch_exists", std::find(result.branches.begin(), result.branches.end(),
                                                s.branch) != result.branches.end()}};
    }
    // ssh: the server's key, to compare with the git host's published fingerprint and pin.
    if (!result.host_key.empty()) {
      answer["host_key"] = result.host_key;
      answer["host_key_pinned"] = !s.ssh_known_hosts.empty();
      if (!result.host_key_line.empty()) {
        answer["known_hosts_line"] = result.host_key_line;
      }
    }
    co_return ok(req_, answer, result.ok ? 200 : 422);
  }

  asio::awaitable<http_response> test_connection_form() {
    require_role(role_, api_role::developer);
    json body = parse_body(req_);
    // The form before saving: name and branch may still be empty.
    if (!body.contains("name")) body["name"] = "connection-test";
    if (!body.contains("branch")) body["branch"] = "main";
    const service_config s = parse_resource(parse_service, body);
    // file:// reads the Kiwi host's own disk: admins (and the config file) only.
    if (s.git_url.starts_with("file://") && !role_allows(role_, api_role::admin)) {
      throw api_error{403,
                      "git_url: file:// URLs read repositories on the Kiwi host itself; only "
                      "admins may test them",
                      "git_url"};
    }
    co_return co_await probe(s);
  }

  asio::awaitable<http_response> test_connection_saved(const std::string& name) {
    require_role(role_, api_role::developer);
    const service_config s = co_await existing_service(name);
    co_return co_await probe(s);
  }

  // --- webhook setup -------------------------------------------------------------------

  asio::awaitable<http_response> webhook_info(const std::string& name) {
    require_role(role_, api_role::viewer);
    const service_config s = co_await existing_service(name);
    const std::string gh = ctx_.config.public_url + "/hooks/github/" + s.name;
    const std::string gl = ctx_.config.public_url + "/hooks/gitlab/" + s.name;
    json j{{"service", s.name},
           {"github",
            {{"payload_url", gh},
             {"content_type", "application/json"},
             {"events", {"push"}},
             {"steps",
              {"Open the repository on GitHub: Settings > Webhooks > Add webhook.",
               "Payload URL: " + gh,
               "Content type: application/json.",
               "Secret: the service's webhook secret (GET this page with an admin token, or "
               "kiwictl webhook show " + s.name + ").",
               "Which events: Just the push event (tag pushes build only if build_tags).",
               "Active: checked. Add webhook; GitHub sends a ping, which Kiwi answers 200."}}}},
           {"gitlab",
            {{"payload_url", gl},
             {"events", {"Push events", "Tag push events"}},
             {"steps",
              {"Open the project on GitLab: Settings > Webhooks > Add new webhook.",
               "URL: " + gl,
               "Secret token: the service's webhook secret.",
               "Trigger: Push events (and Tag push events if build_tags), all branches.",
               "Enable SSL verification if kiwid is served over https. Add webhook, then "
               "Test > Push events."}}}},
           {"webhook_secret", "***"}};
    if (role_allows(role_, api_role::admin)) {
      j["webhook_secret"] = s.webhook_secret;
    }
    co_return ok(req_, j);
  }

  asio::awaitable<http_response> rotate_secret(const std::string& name) {
    require_role(role_, api_role::admin);
    if (ctx_.config.find_service(name) != nullptr) {
      throw api_error{409, "service \"" + name +
                               "\" is declared in the config file; change its webhook_secret "
                               "there",
                      ""};
    }
    service_config s = co_await existing_service(name);
    s.webhook_secret = random_secret();
    auto [ec, stored] = co_await ctx_.store.put(s, false);
    check(ec);
    spdlog::info("api: webhook secret of {} rotated", name);
    co_return ok(req_, json{{"service", name},
                            {"webhook_secret", s.webhook_secret},
                            {"next", "update the secret in the GitHub/GitLab webhook settings; "
                                     "deliveries signed with the old secret now get 401"}});
  }

  // Creates or updates the hook on GitHub/GitLab with the service's token. The body may name
  // the forge for self-hosted hosts: {"provider": "github"|"gitlab", "api_url": "..."}.
  asio::awaitable<http_response> install_hook(const std::string& name) {
    require_role(role_, api_role::admin);
    const service_config s = co_await existing_service(name);
    const json body = req_.body().empty() ? json::object() : parse_body(req_);
    if (s.token.empty()) {
      throw api_error{422,
                      "token: the service has no token; installing a webhook needs one with "
                      "admin:repo_hook (GitHub) or api (GitLab) scope. Or add the hook by hand: "
                      "GET /api/v1/services/" + name + "/webhook",
                      "token"};
    }
    webhook_install_request request;
    try {
      json_fields::reject_unknown(body, "", {"provider", "api_url"});
      request.target =
          forge_target_for(s.git_url, json_fields::get_string(body, "provider", "provider", false),
                           json_fields::get_string(body, "api_url", "api_url", false));
    } catch (const field_error& e) {
      throw api_error{422, e.field + ": " + e.what(), e.field};
    }
    request.token = s.token;
    request.payload_url =
        ctx_.config.public_url + "/hooks/" + request.target.provider + "/" + s.name;
    request.secret = s.webhook_secret;
    request.branch = s.branch;
    request.tag_pushes = s.build_tags;
    auto executor = co_await asio::this_coro::executor;
    auto work = [request]() { return install_webhook(request); };
    const webhook_install_result result =
        co_await run_blocking(blocking_pool(), executor, work);
    if (!result.ok) {
      spdlog::warn("api: webhook install for {} failed: {}", name, result.error);
      co_return ok(req_, json{{"ok", false}, {"error", result.error}},
                   result.upstream_unreachable ? 502 : 422);
    }
    spdlog::info("api: webhook of {} {} on {} ({})", name, result.action,
                 request.target.provider, request.target.project);
    json answer{{"ok", true},
                {"message", result.action + " on " + request.target.provider + " for " +
                                request.target.project},
                {"provider", request.target.provider},
                {"project", request.target.project},
                {"action", result.action},
                {"hook_id", result.hook_id},
                {"payload_url", request.payload_url}};
    if (const std::string w = unreachable_public_url_warning(); !w.empty()) {
      answer["warning"] = w;
    }
    co_return ok(req_, answer, result.action == "created" ? 201 : 200);
  }

  // A payload URL on a loopback address cannot be reached by a hosted forge.
  std::string unreachable_public_url_warning() const {
    const auto where = parse_http_endpoint(ctx_.config.public_url);
    if (where && (where->host == "localhost" || where->host.starts_with("127.") ||
                  where->host == "::1")) {
      return "public_url is " + ctx_.config.public_url +
             ", which GitHub.com and GitLab.com cannot reach; set public_url to kiwid's public "
             "address";
    }
    return {};
  }

  // --- Dockerfile preview ----------------------------------------------------------------

  // Which Dockerfile a build of the ref would use, or what the wizard would generate for it,
  // from kiwid's own mirror of the repository (common/dockerfile_preview.hpp). ?ref= (default
  // the service's branch), ?mode=, ?language= and ?framework= preview settings before they are
  // saved.
  asio::awaitable<http_response> show_dockerfile_preview(const std::string& name,
                                                        const route& r) {
    require_role(role_, api_role::viewer);
    const service_config s = co_await existing_service(name);
    dockerfile_preview_request request;
    request.ref = r.param("ref");
    request.mode = r.param("mode");
    request.language = r.find_param("language");
    request.framework = r.find_param("framework");
    if (request.ref.size() > 1024 ||
        std::any_of(request.ref.begin(), request.ref.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x21 || c == 0x7f; })) {
      throw api_error{422, "ref: a branch, a tag, refs/... or a 40-hex commit id", "ref"};
    }
    if (!request.mode.empty() && request.mode != "auto" && request.mode != "path" &&
        request.mode != "wizard") {
      throw api_error{422, "mode: must be auto, path or wizard", "mode"};
    }
    const bool wizard_choice = request.language.has_value() || request.framework.has_value();
    if (request.mode.empty() && !wizard_choice && s.dockerfile.mode == "none") {
      throw api_error{422,
                      "dockerfile: the service's dockerfile mode is none (clone only), so its "
                      "builds make no image; preview a mode with ?mode=auto, ?mode=path or "
                      "?mode=wizard (or give language and framework)",
                      "dockerfile"};
    }
    if (auto problem = check_wizard_choice(request.language.value_or(""),
                                           request.framework.value_or(""))) {
      const std::string field = problem->field.substr(problem->field.rfind('.') + 1);
      throw api_error{422, field + ": " + problem->message, field};
    }
    std::optional<registry_config> registry;
    if (!s.registry.empty()) {
      if (const registry_config* c = ctx_.config.find_registry(s.registry)) {
        registry = *c;
      } else {
        auto [ec, found] = co_await ctx_.store.registry(s.registry);
        check(ec);
        registry = std::move(found);
      }
    }
    request.secrets = preview_secrets(s, registry);
    request.service = s;
    request.images = ctx_.config.build.wizard_images;
    request.mirror_dir = preview_mirror_dir(s.name);
    request.timeout = ctx_.config.worker.clone_timeout;
    auto executor = co_await asio::this_coro::executor;
    auto work = [request]() { return preview_dockerfile(request); };
    const dockerfile_preview_outcome outcome =
        co_await run_blocking(blocking_pool(), executor, work);
    if (const auto* e = std::get_if<dockerfile_preview_error>(&outcome)) {
      spdlog::info("api: Dockerfile preview of {} ({}) failed ({}): {}", name, e->ref, e->kind,
                   e->message);
      const auto [status, body] = preview_error_json(*e);
      co_return ok(req_, body, status);
    }
    co_return ok(req_, preview_json(s.name, std::get<dockerfile_preview>(outcome)));
  }

  // --- builds ----------------------------------------------------------------------------

  asio::awaitable<http_response> list_builds(const std::string& name, const route& r) {
    require_role(role_, api_role::viewer);
    co_await existing_service(name);
    const long limit = std::clamp(std::atol(r.param("limit", "20").c_str()), 1L, 100L);
    const long offset = std::max(0L, std::atol(r.param("offset", "0").c_str()));
    auto ids = co_await ctx_.redis.command(
        redis_args("ZREVRANGE", keys::service_builds(name), std::to_string(offset),
                   std::to_string(offset + limit - 1)),
        ctx_.config.redis_timeout);
    check(ids.ec);
    json items = json::array();
    for (const auto& id : ids.value.elements) {
      auto [ec, fields] = co_await ctx_.queue.build_record(id.str);
      check(ec);
      if (!fields.empty()) {
        items.push_back(build_json(fields, false));
      }
    }
    json j{{"items", items}};
    if (static_cast<long>(ids.value.elements.size()) == limit) {
      j["next_offset"] = offset + limit;
    }
    co_return ok(req_, j);
  }

  asio::awaitable<http_response> show_build(const std::string& id) {
    require_role(role_, api_role::viewer);
    auto [ec, fields] = co_await ctx_.queue.build_record(id);
    check(ec);
    if (fields.empty()) {
      throw api_error{404, missing_build_message(id, ctx_.config.retention), ""};
    }
    co_return ok(req_, build_json(fields));
  }

  // The stored log as text, one "[stage] line" per stage.log event (?follow=1 is the event
  // stream's: daemon/event_stream.cpp).
  asio::awaitable<http_response> build_log(const std::string& id) {
    require_role(role_, api_role::viewer);
    auto [ec, fields] = co_await ctx_.queue.build_record(id);
    check(ec);
    if (fields.empty()) {
      throw api_error{404, missing_build_message(id, ctx_.config.retention), ""};
    }
    auto entries = co_await ctx_.redis.command(
        redis_args("XRANGE", keys::build_events(id), "-", "+"), ctx_.config.redis_timeout);
    check(entries.ec);
    std::string text;
    for_each_stream_entry(entries.value, [&](const std::string&, const std::string& event) {
      const json e = json::parse(event, nullptr, false);
      if (e.is_object() && e.value("type", "") == "stage.log") {
        text += "[" + e.value("stage", "") + "] " + e.value("message", "") + "\n";
      }
    });
    http_response res = json_response(req_, 200, std::move(text));
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    co_return res;
  }

  asio::awaitable<http_response> start_build(const std::string& name) {
    require_role(role_, api_role::developer);
    const service_config s = co_await existing_service(name);
    json body = req_.body().empty() ? json::object() : parse_body(req_);
    const std::string branch = json_fields::get_string(body, "branch", "branch", false, s.branch);
    std::string sha = json_fields::get_string(body, "commit", "commit", false);
    if (!sha.empty() && (sha.size() != 40 || sha.find_first_not_of("0123456789abcdef") !=
                                                 std::string::npos)) {
      throw api_error{422, "commit: must be a full 40-character commit id", "commit"};
    }
    if (sha.empty()) {
      const probe_request request = probe_request_of(s);
      auto executor = co_await asio::this_coro::executor;
      auto work = [request]() { return probe_remote(request); };
      const probe_result found = co_await run_blocking(blocking_pool(), executor, work);
      if (!found.ok) {
        throw api_error{422, found.error, "branch"};
      }
      auto it = found.heads.find(branch);
      if (it == found.heads.end()) {
        throw api_error{422, "branch: no branch \"" + branch + "\" in " + s.git_url, "branch"};
      }
      sha = it->second;
    }
    enqueue_request job;
    job.build_id = new_build_id();
    job.provider = "api";
    job.delivery_id = job.build_id;
    job.service = s.name;
    job.cancel_superseded = s.cancel_superseded;
    job.max_concurrent_builds = s.max_concurrent_builds;
    job.fields = {{"service", s.name},  {"kind", "push"},        {"trigger", "manual"},
                  {"provider", "api"},  {"ref", "refs/heads/" + branch},
                  {"sha", sha},         {"branch", branch},      {"tag", ""},
                  {"pusher", "api"},    {"commit_message", ""},
                  {"first_stage", "clone"},
                  {"first_message", "cloning refs/heads/" + branch + " at " + sha.substr(0, 12)}};
    job.queued_event.type = event_type::build_queued;
    job.queued_event.build_id = job.build_id;
    job.queued_event.service = s.name;
    job.queued_event.ref = "refs/heads/" + branch;
    job.queued_event.sha = sha;
    job.queued_event.status = "queued";
    job.queued_event.message = "manual build of " + branch + " at " + sha.substr(0, 12);
    auto [ec, out] = co_await ctx_.queue.enqueue(job);
    check(ec);
    spdlog::info("build {} queued by the API: {} {} {}", out.build_id, s.name, branch, sha);
    co_return ok(req_, json{{"status", "queued"}, {"build_id", out.build_id},
                            {"number", out.number}, {"sha", sha}},
                 202);
  }

  asio::awaitable<http_response> cancel_build(const std::string& id) {
    require_role(role_, api_role::developer);
    const std::string message = "cancelled through the API";
    auto [ec, state] = co_await ctx_.queue.cancel(id, message);
    check(ec);
    if (state == "not_found") {
      throw api_error{404, missing_build_message(id, ctx_.config.retention), ""};
    }
    if (state != "cancelled" && state != "cancelling") {
      const std::string status = state.starts_with("ended:") ? state.substr(6) : state;
      throw api_error{409, "build " + id + " already ended (" + status + ")", ""};
    }
    co_return ok(req_, json{{"build_id", id}, {"status", state}}, state == "cancelled" ? 200 : 202);
  }

  asio::awaitable<http_response> queue_stats() {
    require_role(role_, api_role::viewer);
    json j{{"outcomes", json::object()}, {"waiting", json::object()}};
    auto outcomes = co_await ctx_.redis.command(redis_args("HGETALL", keys::job_outcomes()),
                                                ctx_.config.redis_timeout);
    check(outcomes.ec);
    for (std::size_t i = 0; i + 1 < outcomes.value.elements.size(); i += 2) {
      j["outcomes"][outcomes.value.elements[i].str] =
          std::atoll(outcomes.value.elements[i + 1].str.c_str());
    }
    for (const auto& [key, name] : {std::pair{keys::leases(), "running"},
                                    std::pair{keys::delayed(), "retrying"}}) {
      auto n = co_await ctx_.redis.command(redis_args("ZCARD", key), ctx_.config.redis_timeout);
      check(n.ec);
      j[name] = n.value.integer;
    }
    auto dead = co_await ctx_.redis.command(redis_args("XLEN", keys::dead_letters()),
                                            ctx_.config.redis_timeout);
    check(dead.ec);
    j["dead_letters"] = dead.value.integer;
    auto [ec, names] = co_await ctx_.store.names(resource_kind::service);
    check(ec);
    for (const auto& s : ctx_.config.services) names.push_back(s.name);
    for (const auto& name : names) {
      auto n = co_await ctx_.redis.command(redis_args("LLEN", keys::service_waiting(name)),
                                           ctx_.config.redis_timeout);
      check(n.ec);
      j["waiting"][name] = n.value.integer;
    }
    co_return ok(req_, j);
  }

  asio::awaitable<http_response> dead_letters(const route& r) {
    require_role(role_, api_role::viewer);
    const std::string count = std::to_string(std::clamp(std::atol(r.param("limit", "50").c_str()),
                                                        1L, 500L));
    auto res = co_await ctx_.redis.command(
        redis_args("XREVRANGE", keys::dead_letters(), "+", "-", "COUNT", count),
        ctx_.config.redis_timeout);
    check(res.ec);
    json items = json::array();
    for (const auto& e : res.value.elements) {
      json item{{"id", e.elements.at(0).str}};
      const auto& kv = e.elements.at(1).elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
        item[kv[i].str] = kv[i + 1].str;
      }
      items.push_back(item);
    }
    co_return ok(req_, json{{"items", items}});
  }

  asio::awaitable<http_response> requeue_dead(const std::string& entry) {
    require_role(role_, api_role::admin);
    const std::string message = "requeued from the dead-letter stream through the API";
    auto [ec, build] = co_await ctx_.queue.requeue_dead(entry, message);
    check(ec);
    if (build.empty()) {
      throw api_error{404, "no dead letter " + entry + " (ids come from GET /dead-letters)", ""};
    }
    spdlog::info("api: build {} requeued from the dead-letter stream", build);
    co_return ok(req_, json{{"build_id", build}, {"status", "queued"}}, 202);
  }

  // --- registries and runtimes -----------------------------------------------------------

  asio::awaitable<http_response> list_simple(resource_kind kind) {
    require_role(role_, api_role::viewer);
    json items = json::array();
    if (kind == resource_kind::registry) {
      for (const auto& x : ctx_.config.registries) items.push_back(with_source(to_json(x), true));
      auto [ec, stored] = co_await ctx_.store.registries();
      check(ec);
      for (const auto& x : stored) {
        if (!ctx_.config.find_registry(x.name)) items.push_back(with_source(to_json(x), false));
      }
    } else {
      for (const auto& x : ctx_.config.runtimes) items.push_back(with_source(to_json(x), true));
      auto [ec, stored] = co_await ctx_.store.runtimes();
      check(ec);
      for (const auto& x : stored) {
        if (!ctx_.config.find_runtime(x.name)) items.push_back(with_source(to_json(x), false));
      }
    }
    co_return ok(req_, json{{"items", items}});
  }

  asio::awaitable<http_response> show_simple(resource_kind kind, const std::string& name) {
    require_role(role_, api_role::viewer);
    if (kind == resource_kind::registry) {
      if (const auto* c = ctx_.config.find_registry(name)) {
        co_return ok(req_, with_source(to_json(*c), true));
      }
      auto [ec, found] = co_await ctx_.store.registry(name);
      check(ec);
      if (found) co_return ok(req_, with_source(to_json(*found), false));
    } else {
      if (const auto* c = ctx_.config.find_runtime(name)) {
        co_return ok(req_, with_source(to_json(*c), true));
      }
      auto [ec, found] = co_await ctx_.store.runtime(name);
      check(ec);
      if (found) co_return ok(req_, with_source(to_json(*found), false));
    }
    throw api_error{404, "no " + std::string(to_string(kind)) + " named \"" + name + "\"", ""};
  }

  asio::awaitable<http_response> put_simple(resource_kind kind, const std::string& name,
                                            bool create) {
    require_role(role_, api_role::admin);
    json body = parse_body(req_);
    if (!create) {
      if (body.contains("name") && body["name"] != name) {
        throw api_error{422, "name: cannot be renamed", "name"};
      }
      body["name"] = name;
    }
    strip_read_only(body);
    const std::string target = body.value("name", "");
    const bool in_config = kind == resource_kind::registry
                               ? ctx_.config.find_registry(target) != nullptr
                               : ctx_.config.find_runtime(target) != nullptr;
    if (in_config) {
      throw api_error{409, std::string(to_string(kind)) + " \"" + target +
                               "\" is declared in the config file",
                      create ? "name" : ""};
    }
    bool stored = false;
    json shown;
    if (kind == resource_kind::registry) {
      if (!create) {
        auto [ec, old] = co_await ctx_.store.registry(name);
        check(ec);
        if (!old) throw api_error{404, "no registry named \"" + name + "\"", ""};
        keep_stored_secrets(body, *old);
      }
      const registry_config reg = parse_resource(parse_registry, body);
      auto [ec, ok_] = co_await ctx_.store.put(reg, create);
      check(ec);
      stored = ok_;
      shown = to_json(reg);
    } else {
      if (!create) {
        auto [ec, old] = co_await ctx_.store.runtime(name);
        check(ec);
        if (!old) throw api_error{404, "no runtime named \"" + name + "\"", ""};
        keep_stored_secrets(body, *old);
      }
      const runtime_config rt = parse_resource(parse_runtime, body);
      auto [ec, ok_] = co_await ctx_.store.put(rt, create);
      check(ec);
      stored = ok_;
      shown = to_json(rt);
    }
    if (!stored) {
      throw api_error{409, "a " + std::string(to_string(kind)) + " named \"" + target +
                               "\" already exists",
                      "name"};
    }
    co_return ok(req_, with_source(shown, false), create ? 201 : 200);
  }

  // Registry and runtime tests: config-file resources first, then the store (as GET shows).
  asio::awaitable<http_response> test_registry(const std::string& name) {
    require_role(role_, api_role::developer);
    std::optional<registry_config> reg;
    if (const auto* c = ctx_.config.find_registry(name)) {
      reg = *c;
    } else {
      auto [ec, found] = co_await ctx_.store.registry(name);
      check(ec);
      reg = std::move(found);
    }
    if (!reg) {
      throw api_error{404, "no registry named \"" + name + "\"", ""};
    }
    auto executor = co_await asio::this_coro::executor;
    auto work = [r = *reg]() { return probe_registry(r); };
    const connection_check result = co_await run_blocking(blocking_pool(), executor, work);
    co_return check_answer("registry", name, result);
  }

  asio::awaitable<http_response> test_runtime(const std::string& name) {
    require_role(role_, api_role::developer);
    std::optional<runtime_config> rt;
    if (const auto* c = ctx_.config.find_runtime(name)) {
      rt = *c;
    } else {
      auto [ec, found] = co_await ctx_.store.runtime(name);
      check(ec);
      rt = std::move(found);
    }
    if (!rt) {
      throw api_error{404, "no runtime named \"" + name + "\"", ""};
    }
    auto executor = co_await asio::this_coro::executor;
    auto work = [r = *rt]() { return probe_runtime(r); };
    const connection_check result = co_await run_blocking(blocking_pool(), executor, work);
    co_return check_answer("runtime", name, result);
  }

  // 200 {"ok":true,"message","details"} or 422 {"ok":false,"error","kind"}.
  http_response check_answer(const char* kind, const std::string& name,
                             const connection_check& result) const {
    if (!result.ok) {
      spdlog::info("api: {} {} test failed ({}): {}", kind, name, result.error_kind,
                   result.message);
      return ok(req_, json{{"ok", false}, {"error", result.message}, {"kind", result.error_kind}},
                422);
    }
    json details = json::object();
    for (const auto& [key, value] : result.details) {
      details[key] = value;
    }
    return ok(req_, json{{"ok", true}, {"message", result.message}, {"details", details}});
  }

  // --- tokens ----------------------------------------------------------------------------

  asio::awaitable<http_response> list_tokens() {
    require_role(role_, api_role::admin);
    auto r = co_await ctx_.redis.command(redis_args("HVALS", keys::resources("api_tokens")),
                                         ctx_.config.redis_timeout);
    check(r.ec);
    json items = json::array();
    for (const auto& v : r.value.elements) {
      items.push_back(json::parse(v.str, nullptr, false));
    }
    co_return ok(req_, json{{"items", items}});
  }

  asio::awaitable<http_response> create_token() {
    require_role(role_, api_role::admin);
    const json body = parse_body(req_);
    const std::string name = json_fields::get_string(body, "name", "name", false);
    if (!is_dns1123_label(name)) {
      throw api_error{422, "name: a DNS-1123 label such as ci-bot", "name"};
    }
    auto role = parse_api_role(json_fields::get_string(body, "role", "role", false));
    if (!role) {
      throw api_error{422, "role: must be admin, developer or viewer", "role"};
    }
    const std::string token = generate_api_token();
    const json record{{"name", name},
                      {"role", to_string(*role)},
                      {"created_at", format_timestamp(std::chrono::system_clock::now())}};
    // The name index keeps names unique and lets DELETE find the hash.
    auto taken = co_await ctx_.redis.command(
        redis_args("HSETNX", keys::resources("api_token_names"), name, api_token_hash(token)),
        ctx_.config.redis_timeout);
    check(taken.ec);
    if (taken.value.integer == 0) {
      throw api_error{409, "a token named \"" + name + "\" exists; delete it first", "name"};
    }
    auto r = co_await ctx_.redis.command(
        redis_args("HSET", keys::resources("api_tokens"), api_token_hash(token), record.dump()),
        ctx_.config.redis_timeout);
    check(r.ec);
    spdlog::info("api: token {} ({}) created", name, to_string(*role));
    json out = record;
    out["token"] = token;
    out["note"] = "shown once: store it now (kiwictl reads KIWI_TOKEN)";
    co_return ok(req_, out, 201);
  }

  asio::awaitable<http_response> delete_token(const std::string& name) {
    require_role(role_, api_role::admin);
    auto hash = co_await ctx_.redis.command(
        redis_args("HGET", keys::resources("api_token_names"), name), ctx_.config.redis_timeout);
    check(hash.ec);
    if (hash.value.type != redis_value::kind::string) {
      throw api_error{404, "no token named \"" + name + "\"", ""};
    }
    auto r1 = co_await ctx_.redis.command(
        redis_args("HDEL", keys::resources("api_tokens"), hash.value.str),
        ctx_.config.redis_timeout);
    check(r1.ec);
    auto r2 = co_await ctx_.redis.command(
        redis_args("HDEL", keys::resources("api_token_names"), name), ctx_.config.redis_timeout);
    check(r2.ec);
    spdlog::info("api: token {} revoked", name);
    co_return ok(req_, json{{"deleted", name}});
  }

  const http_request& req_;
  api_context& ctx_;
  const std::string& client_;
  api_role role_ = api_role::viewer;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> api_route_list() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : api_handler::api_routes()) {
    out.emplace_back(std::string(r.method), "/api/v1" + std::string(r.path));
  }
  // Served by the event streams (daemon/event_stream.cpp), ahead of handle_api.
  out.emplace_back("GET", "/api/v1/builds/{id}/events");
  out.emplace_back("GET", "/api/v1/events");
  return out;
}

asio::awaitable<std::pair<boost::system::error_code, std::optional<service_config>>>
find_service(const kiwi_config& config, resource_store& store, const std::string& name) {
  if (const service_config* s = config.find_service(name)) {
    co_return std::pair{boost::system::error_code{}, std::optional<service_config>(*s)};
  }
  co_return co_await store.service(name);
}

asio::awaitable<std::optional<http_response>> authorize(const http_request& request,
                                                        api_context& ctx,
                                                        const std::string& client_address,
                                                        api_role need) {
  api_handler handler(request, ctx, client_address);
  co_return co_await handler.check_access(need);
}

asio::awaitable<http_response> handle_api(const http_request& request, api_context& ctx,
                                          const std::string& client_address) {
  api_handler handler(request, ctx, client_address);
  co_return co_await handler.run();
}

}  // namespace kiwi
