#pragma once
// What registries and runtimes share (daemon/api/registries.cpp, runtimes.cpp): both are a
// config-file list (read-only) plus the ones registered through the API, created, shown,
// replaced, deleted and tested alike. The kind's differences are a traits struct:
//   config                       registry_config / runtime_config
//   kind                         resource_kind::registry / ::runtime
//   configured(kiwi_config)      the config file's list
//   find(kiwi_config, name)      the config file's one, or null
//   stored_all(store), stored_one(store, name)
//   parse(json, parse_context), probe(config)

#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "common/http/connection_check.hpp"
#include "daemon/api/reply.hpp"

namespace kiwi {

// DELETE of a registered resource: 409 for one from the config file, 404 for none.
boost::asio::awaitable<api_reply> delete_resource(api_context& ctx, resource_kind kind,
                                                  const std::string& name);

// 200 {"ok":true,"message","details"} or 422 {"ok":false,"error","kind"}.
api_reply check_answer(std::string_view kind, const std::string& name,
                       const connection_check& result);

template <class Kind>
boost::asio::awaitable<api_reply> list_stored(const api_request&, api_context& ctx) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& x : Kind::configured(ctx.config)) {
    items.push_back(with_source(to_json(x), true));
  }
  auto [ec, stored] = co_await Kind::stored_all(ctx.store);
  check(ec);
  for (const auto& x : stored) {
    if (!Kind::find(ctx.config, x.name)) {
      items.push_back(with_source(to_json(x), false));
    }
  }
  co_return ok(nlohmann::json{{"items", items}});
}

// The config file's first, then the store's (as GET shows them); 404 when neither has it.
template <class Kind>
boost::asio::awaitable<std::pair<typename Kind::config, bool>> existing(api_context& ctx,
                                                                         const std::string& name) {
  if (const auto* c = Kind::find(ctx.config, name)) {
    co_return std::pair{*c, true};
  }
  auto [ec, found] = co_await Kind::stored_one(ctx.store, name);
  check(ec);
  if (!found) {
    throw api_error{404, "no " + std::string(to_string(Kind::kind)) + " named \"" + name + "\"",
                    ""};
  }
  co_return std::pair{std::move(*found), false};
}

template <class Kind>
boost::asio::awaitable<api_reply> show_stored(const api_request& req, api_context& ctx) {
  auto [found, in_config] = co_await existing<Kind>(ctx, req.path_param("name"));
  co_return ok(with_source(to_json(found), in_config));
}

// POST (create) and PUT (replace) of a registered resource.
template <class Kind, bool create>
boost::asio::awaitable<api_reply> put_stored(const api_request& req, api_context& ctx) {
  const std::string kind(to_string(Kind::kind));
  const std::string name = create ? std::string() : req.path_param("name");
  nlohmann::json body = parse_body(req);
  if (!create) {
    if (body.contains("name") && body["name"] != name) {
      throw api_error{422, "name: cannot be renamed", "name"};
    }
    body["name"] = name;
  }
  strip_read_only(body);
  const std::string target = body.value("name", "");
  if (Kind::find(ctx.config, target) != nullptr) {
    throw api_error{409, kind + " \"" + target + "\" is declared in the config file",
                    create ? "name" : ""};
  }
  if (!create) {
    auto [ec, old] = co_await Kind::stored_one(ctx.store, name);
    check(ec);
    if (!old) {
      throw api_error{404, "no " + kind + " named \"" + name + "\"", ""};
    }
    keep_stored_secrets(body, *old);
  }
  const typename Kind::config parsed = parse_resource(Kind::parse, body);
  auto [ec, stored] = co_await ctx.store.put(parsed, create);
  check(ec);
  if (!stored) {
    throw api_error{409, "a " + kind + " named \"" + target + "\" already exists", "name"};
  }
  co_return ok(with_source(to_json(parsed), false), create ? 201 : 200);
}

template <class Kind>
boost::asio::awaitable<api_reply> delete_stored(const api_request& req, api_context& ctx) {
  co_return co_await delete_resource(ctx, Kind::kind, req.path_param("name"));
}

// The registry's or runtime's connection test, config-file ones included.
template <class Kind>
boost::asio::awaitable<api_reply> test_stored(const api_request& req, api_context& ctx) {
  const std::string& name = req.path_param("name");
  auto [found, in_config] = co_await existing<Kind>(ctx, name);
  auto executor = co_await boost::asio::this_coro::executor;
  auto work = [r = std::move(found)]() { return Kind::probe(r); };
  const connection_check result = co_await run_blocking(blocking_pool(), executor, work);
  co_return check_answer(to_string(Kind::kind), name, result);
}

}  // namespace kiwi
