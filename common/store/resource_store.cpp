#include "common/store/resource_store.hpp"

#include <functional>

#include <nlohmann/json.hpp>

#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {
namespace {

std::string_view plural(resource_kind k) {
  switch (k) {
    case resource_kind::service: return "services";
    case resource_kind::registry: return "registries";
    case resource_kind::runtime: return "runtimes";
  }
  return "services";
}

// The fields of each kind that hold secrets.
std::vector<std::string_view> secret_fields(resource_kind k) {
  switch (k) {
    case resource_kind::service: return {"token", "ssh_key", "webhook_secret"};
    case resource_kind::registry: return {"password"};
    case resource_kind::runtime: return {"token", "tls_key"};
  }
  return {};
}

// Calls visit(value, field) for each secret string of `doc`: the kind's secret fields, and for
// services each deploy environment's secret_env value ("deploy/<env>/secret_env/<NAME>"). The
// field names the secret in its sealing context, so a value moved elsewhere does not open.
void for_each_secret(resource_kind kind, json& doc,
                     const std::function<void(json&, const std::string&)>& visit) {
  for (auto field : secret_fields(kind)) {
    auto it = doc.find(field);
    if (it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
      visit(*it, std::string(field));
    }
  }
  auto deploy = doc.find("deploy");
  if (kind != resource_kind::service || deploy == doc.end() || !deploy->is_array()) {
    return;
  }
  for (auto& env : *deploy) {
    auto vars = env.find("secret_env");
    if (!env.is_object() || vars == env.end() || !vars->is_object()) {
      continue;
    }
    const std::string prefix = "deploy/" + env.value("name", "") + "/secret_env/";
    for (auto& [key, value] : vars->items()) {
      if (value.is_string() && !value.get<std::string>().empty()) {
        visit(value, prefix + key);
      }
    }
  }
}

parse_context stored_context() {
  parse_context ctx;
  ctx.webhook_secret_required = false;
  return ctx;
}

template <class R, class Parse>
std::optional<R> parse_one(const resource_store& store, resource_kind kind,
                           const std::optional<std::string>& doc, Parse parse) {
  if (!doc) {
    return std::nullopt;
  }
  return parse(store.unseal(kind, *doc), stored_context());
}

template <class R, class Parse>
std::vector<R> parse_all(const resource_store& store, resource_kind kind,
                         const std::vector<std::string>& docs, Parse parse) {
  std::vector<R> out;
  out.reserve(docs.size());
  for (const auto& d : docs) {
    out.push_back(parse(store.unseal(kind, d), stored_context()));
  }
  return out;
}

}  // namespace

std::string_view to_string(resource_kind k) {
  switch (k) {
    case resource_kind::service: return "service";
    case resource_kind::registry: return "registry";
    case resource_kind::runtime: return "runtime";
  }
  return "service";
}

resource_store::resource_store(redis_client& redis, const secret_box* box,
                               std::chrono::milliseconds timeout)
    : redis_(redis), box_(box), timeout_(timeout) {}

std::string resource_store::seal(resource_kind kind, json doc) const {
  const std::string name = doc.value("name", "");
  for_each_secret(kind, doc, [&](json& value, const std::string& field) {
    if (box_ == nullptr) {
      throw secret_store_error("cannot store " + std::string(to_string(kind)) + " \"" + name +
                               "\": it holds a secret and kiwid has no secrets_key_file");
    }
    value = box_->seal(value.get<std::string>(),
                       std::string(to_string(kind)) + "/" + name + "/" + field);
  });
  return doc.dump();
}

json resource_store::unseal(resource_kind kind, const std::string& stored) const {
  json doc = json::parse(stored);
  const std::string name = doc.value("name", "");
  for_each_secret(kind, doc, [&](json& value, const std::string& field) {
    const std::string sealed = value.get<std::string>();
    if (!secret_box::is_sealed(sealed)) {
      return;
    }
    std::optional<std::string> plain;
    if (box_ != nullptr) {
      plain = box_->open(sealed, std::string(to_string(kind)) + "/" + name + "/" + field);
    }
    if (!plain) {
      throw secret_store_error(
          std::string(to_string(kind)) + " \"" + name + "\": its " + field +
          " was sealed with key " + secret_box::key_id_of(sealed) +
          ", which is not the configured secrets key (" + (box_ ? box_->key_id() : "none") +
          "); use the key file it was stored with, or re-encrypt (docs/api.md)");
    }
    value = *plain;
  });
  return doc;
}

asio::awaitable<resource_store::result<std::optional<std::string>>> resource_store::get_doc(
    resource_kind kind, const std::string& name) {
  auto r = co_await redis_.command(redis_args("HGET", keys::resources(plural(kind)), name),
                                   timeout_);
  std::optional<std::string> doc;
  if (r && r.value.type == redis_value::kind::string) {
    doc = r.value.str;
  }
  co_return std::pair{r.ec, doc};
}

asio::awaitable<resource_store::result<std::vector<std::string>>> resource_store::all_docs(
    resource_kind kind) {
  auto r = co_await redis_.command(redis_args("HVALS", keys::resources(plural(kind))), timeout_);
  std::vector<std::string> docs;
  for (const auto& e : r.value.elements) {
    docs.push_back(e.str);
  }
  co_return std::pair{r.ec, docs};
}

asio::awaitable<resource_store::result<std::vector<std::string>>> resource_store::names(
    resource_kind kind) {
  auto r = co_await redis_.command(redis_args("HKEYS", keys::resources(plural(kind))), timeout_);
  std::vector<std::string> out;
  for (const auto& e : r.value.elements) {
    out.push_back(e.str);
  }
  co_return std::pair{r.ec, out};
}

asio::awaitable<resource_store::result<bool>> resource_store::put_doc(resource_kind kind,
                                                                      const std::string& name,
                                                                      json doc, bool create) {
  const std::string stored = seal(kind, std::move(doc));
  auto r = co_await redis_.command(
      redis_args(create ? "HSETNX" : "HSET", keys::resources(plural(kind)), name, stored),
      timeout_);
  co_return std::pair{r.ec, r && (!create || r.value.integer == 1)};
}

asio::awaitable<resource_store::result<bool>> resource_store::remove(resource_kind kind,
                                                                     const std::string& name) {
  auto r = co_await redis_.command(redis_args("HDEL", keys::resources(plural(kind)), name),
                                   timeout_);
  co_return std::pair{r.ec, r && r.value.integer == 1};
}

asio::awaitable<resource_store::result<std::optional<service_config>>> resource_store::service(
    const std::string& name) {
  auto [ec, doc] = co_await get_doc(resource_kind::service, name);
  co_return std::pair{ec, parse_one<service_config>(*this, resource_kind::service, doc, parse_service)};
}

asio::awaitable<resource_store::result<std::vector<service_config>>> resource_store::services() {
  auto [ec, docs] = co_await all_docs(resource_kind::service);
  co_return std::pair{ec, parse_all<service_config>(*this, resource_kind::service, docs,
                                                    parse_service)};
}

asio::awaitable<resource_store::result<std::optional<registry_config>>> resource_store::registry(
    const std::string& name) {
  auto [ec, doc] = co_await get_doc(resource_kind::registry, name);
  co_return std::pair{ec, parse_one<registry_config>(*this, resource_kind::registry, doc, parse_registry)};
}

asio::awaitable<resource_store::result<std::vector<registry_config>>>
resource_store::registries() {
  auto [ec, docs] = co_await all_docs(resource_kind::registry);
  co_return std::pair{ec, parse_all<registry_config>(*this, resource_kind::registry, docs,
                                                     parse_registry)};
}

asio::awaitable<resource_store::result<std::optional<runtime_config>>> resource_store::runtime(
    const std::string& name) {
  auto [ec, doc] = co_await get_doc(resource_kind::runtime, name);
  co_return std::pair{ec, parse_one<runtime_config>(*this, resource_kind::runtime, doc, parse_runtime)};
}

asio::awaitable<resource_store::result<std::vector<runtime_config>>> resource_store::runtimes() {
  auto [ec, docs] = co_await all_docs(resource_kind::runtime);
  co_return std::pair{ec, parse_all<runtime_config>(*this, resource_kind::runtime, docs,
                                                    parse_runtime)};
}

asio::awaitable<resource_store::result<bool>> resource_store::put(const service_config& s,
                                                                  bool create) {
  json doc = to_json(s, true);  // a named local: GCC 12 and temporaries in co_await
  co_return co_await put_doc(resource_kind::service, s.name, std::move(doc), create);
}
asio::awaitable<resource_store::result<bool>> resource_store::put(const registry_config& r,
                                                                  bool create) {
  json doc = to_json(r, true);  // a named local: GCC 12 and temporaries in co_await
  co_return co_await put_doc(resource_kind::registry, r.name, std::move(doc), create);
}
asio::awaitable<resource_store::result<bool>> resource_store::put(const runtime_config& r,
                                                                  bool create) {
  json doc = to_json(r, true);  // a named local: GCC 12 and temporaries in co_await
  co_return co_await put_doc(resource_kind::runtime, r.name, std::move(doc), create);
}

asio::awaitable<resource_store::result<std::size_t>> resource_store::reseal_all(
    const secret_box& old) {
  if (box_ == nullptr) {
    throw secret_store_error("no secrets key to re-encrypt with");
  }
  std::size_t resealed = 0;
  for (auto kind : {resource_kind::service, resource_kind::registry, resource_kind::runtime}) {
    auto r = co_await redis_.command(redis_args("HGETALL", keys::resources(plural(kind))),
                                     timeout_);
    if (r.ec) {
      co_return std::pair{r.ec, resealed};
    }
    for (std::size_t i = 0; i + 1 < r.value.elements.size(); i += 2) {
      const std::string& name = r.value.elements[i].str;
      json doc = json::parse(r.value.elements[i + 1].str);
      bool changed = false;
      for_each_secret(kind, doc, [&](json& value, const std::string& field) {
        const std::string sealed = value.get<std::string>();
        if (!secret_box::is_sealed(sealed) || secret_box::key_id_of(sealed) == box_->key_id()) {
          return;
        }
        const std::string context = std::string(to_string(kind)) + "/" + name + "/" + field;
        auto plain = old.open(sealed, context);
        if (!plain) {
          throw secret_store_error(std::string(to_string(kind)) + " \"" + name + "\": its " +
                                   field + " is sealed with key " +
                                   secret_box::key_id_of(sealed) +
                                   ", which is neither the old key (" + old.key_id() +
                                   ") nor the new one (" + box_->key_id() + ")");
        }
        value = box_->seal(*plain, context);
        changed = true;
        ++resealed;
      });
      if (changed) {
        auto w = co_await redis_.command(
            redis_args("HSET", keys::resources(plural(kind)), name, doc.dump()), timeout_);
        if (w.ec) {
          co_return std::pair{w.ec, resealed};
        }
      }
    }
  }
  co_return std::pair{boost::system::error_code{}, resealed};
}

}  // namespace kiwi
