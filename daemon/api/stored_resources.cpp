#include "daemon/api/stored_resources.hpp"

namespace kiwi {

using json = nlohmann::json;

boost::asio::awaitable<api_reply> delete_resource(api_context& ctx, resource_kind kind,
                                                  const std::string& name) {
  bool in_config = false;
  switch (kind) {
    case resource_kind::service: in_config = ctx.config.find_service(name) != nullptr; break;
    case resource_kind::registry: in_config = ctx.config.find_registry(name) != nullptr; break;
    case resource_kind::runtime: in_config = ctx.config.find_runtime(name) != nullptr; break;
  }
  if (in_config) {
    throw api_error{409, std::string(to_string(kind)) + " \"" + name +
                             "\" is declared in the config file; remove it there",
                    ""};
  }
  auto [ec, removed] = co_await ctx.store.remove(kind, name);
  check(ec);
  if (!removed) {
    throw api_error{404, "no " + std::string(to_string(kind)) + " named \"" + name + "\"", ""};
  }
  spdlog::info("api: {} {} deleted", to_string(kind), name);
  co_return ok(json{{"deleted", name}});
}

api_reply check_answer(std::string_view kind, const std::string& name,
                       const connection_check& result) {
  if (!result.ok) {
    spdlog::info("api: {} {} test failed ({}): {}", kind, name, result.error_kind,
                 result.message);
    return ok(json{{"ok", false}, {"error", result.message}, {"kind", result.error_kind}}, 422);
  }
  json details = json::object();
  for (const auto& [key, value] : result.details) {
    details[key] = value;
  }
  return ok(json{{"ok", true}, {"message", result.message}, {"details", details}});
}

}  // namespace kiwi
