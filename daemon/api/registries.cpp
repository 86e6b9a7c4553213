#include "daemon/api/registries.hpp"

#include "common/registry/registry_probe.hpp"
#include "daemon/api/stored_resources.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

struct registry_kind {
  using config = registry_config;
  static constexpr resource_kind kind = resource_kind::registry;
  static const std::vector<config>& configured(const kiwi_config& c) { return c.registries; }
  static const config* find(const kiwi_config& c, std::string_view name) {
    return c.find_registry(name);
  }
  static auto stored_all(resource_store& s) { return s.registries(); }
  static auto stored_one(resource_store& s, const std::string& name) { return s.registry(name); }
  static config parse(const nlohmann::json& j, const parse_context& ctx) {
    return parse_registry(j, ctx);
  }
  static connection_check probe(const config& c) { return probe_registry(c); }
};

}  // namespace

asio::awaitable<api_reply> list_registries(const api_request& req, api_context& ctx) {
  return list_stored<registry_kind>(req, ctx);
}
asio::awaitable<api_reply> create_registry(const api_request& req, api_context& ctx) {
  return put_stored<registry_kind, true>(req, ctx);
}
asio::awaitable<api_reply> show_registry(const api_request& req, api_context& ctx) {
  return show_stored<registry_kind>(req, ctx);
}
asio::awaitable<api_reply> replace_registry(const api_request& req, api_context& ctx) {
  return put_stored<registry_kind, false>(req, ctx);
}
asio::awaitable<api_reply> delete_registry(const api_request& req, api_context& ctx) {
  return delete_stored<registry_kind>(req, ctx);
}
asio::awaitable<api_reply> test_registry(const api_request& req, api_context& ctx) {
  return test_stored<registry_kind>(req, ctx);
}

}  // namespace kiwi
