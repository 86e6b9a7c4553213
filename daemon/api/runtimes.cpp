#include "daemon/api/runtimes.hpp"

#include "daemon/runtime_probe.hpp"
#include "daemon/api/stored_resources.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

struct runtime_kind {
  using config = runtime_config;
  static constexpr resource_kind kind = resource_kind::runtime;
  static const std::vector<config>& configured(const kiwi_config& c) { return c.runtimes; }
  static const config* find(const kiwi_config& c, std::string_view name) {
    return c.find_runtime(name);
  }
  static auto stored_all(resource_store& s) { return s.runtimes(); }
  static auto stored_one(resource_store& s, const std::string& name) { return s.runtime(name); }
  static config parse(const nlohmann::json& j, const parse_context& ctx) {
    return parse_runtime(j, ctx);
  }
  static connection_check probe(const config& c) { return probe_runtime(c); }
};

}  // namespace

asio::awaitable<api_reply> list_runtimes(const api_request& req, api_context& ctx) {
  return list_stored<runtime_kind>(req, ctx);
}
asio::awaitable<api_reply> create_runtime(const api_request& req, api_context& ctx) {
  return put_stored<runtime_kind, true>(req, ctx);
}
asio::awaitable<api_reply> show_runtime(const api_request& req, api_context& ctx) {
  return show_stored<runtime_kind>(req, ctx);
}
asio::awaitable<api_reply> replace_runtime(const api_request& req, api_context& ctx) {
  return put_stored<runtime_kind, false>(req, ctx);
}
asio::awaitable<api_reply> delete_runtime(const api_request& req, api_context& ctx) {
  return delete_stored<runtime_kind>(req, ctx);
}
asio::awaitable<api_reply> test_runtime(const api_request& req, api_context& ctx) {
  return test_stored<runtime_kind>(req, ctx);
}

}  // namespace kiwi
