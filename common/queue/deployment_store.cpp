#include "common/queue/deployment_store.hpp"

#include <stdexcept>

#include "common/base/text_format.hpp"
#include "common/config/deploy_environment.hpp"
#include "common/queue/build_id.hpp"
#include "common/queue/queue_scripts.hpp"
#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {
namespace {

using clock = std::chrono::system_clock;

std::string millis_text(clock::time_point t) { return std::to_string(unix_millis(t)); }

clock::time_point from_millis(const std::string& text) {
  return clock::time_point(std::chrono::milliseconds(std::stoll(text)));
}

std::string secret_context(const std::string& id, const std::string& name) {
  return "deployment/" + id + "/secret_env/" + name;
}

}  // namespace

std::string image_by_digest(const std::string& image, const std::string& digest) {
  if (digest.empty()) {
    return {};
  }
  std::string repo = image.substr(0, image.find('@'));
  const auto slash = repo.rfind('/');
  const auto colon = repo.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    repo.resize(colon);  // the tag
  }
  return repo + "@" + digest;
}

bool is_digest_reference(const std::string& image) {
  const auto at = image.find("@sha256:");
  if (at == std::string::npos || at == 0 || image.size() != at + 8 + 64) {
    return false;
  }
  return image.find_first_not_of("0123456789abcdef", at + 8) == std::string::npos &&
         image.find_first_of(" \t\r\n@") == at;
}

json to_json(const deployment_revision& d) {
  json j{{"id", d.id},
         {"service", d.service},
         {"environment", d.environment},
         {"revision", d.revision},
         {"build_id", d.build_id},
         {"image", d.image},
         {"config", to_json(d.config, false)},
         {"trigger", d.trigger},
         {"rollback_of", d.rollback_of.empty() ? json(nullptr) : json(d.rollback_of)},
         {"status", d.status},
         {"message", d.message},
         {"diagnostics", d.diagnostics},
         {"url", d.url},
         {"created_at", format_timestamp(d.created_at)},
         {"started_at", d.started_at ? json(format_timestamp(*d.started_at)) : json(nullptr)},
         {"finished_at", d.finished_at ? json(format_timestamp(*d.finished_at)) : json(nullptr)}};
  return j;
}

deployment_store::deployment_store(redis_client& redis, const secret_box* box,
                                   std::chrono::milliseconds timeout, unsigned keep)
    : redis_(redis), box_(box), timeout_(timeout), keep_(keep == 0 ? 1 : keep) {}

std::string deployment_store::seal_config(const std::string& id,
                                          const environment_config& e) const {
  json j = to_json(e, true);
  for (auto& [name, value] : j["secret_env"].items()) {
    if (box_ == nullptr) {
      throw std::runtime_error("environment " + e.name +
                                          " has secret_env, and there is no secrets_key_file "
                                          "to seal it with");
    }
    value = box_->seal(value.get<std::string>(), secret_context(id, name));
  }
  return j.dump();
}

environment_config deployment_store::open_config(const std::string& id,
                                                 const std::string& stored) const {
  json j = json::parse(stored);
  for (auto& [name, value] : j["secret_env"].items()) {
    std::optional<std::string> plain;
    if (box_ != nullptr && value.is_string()) {
      plain = box_->open(value.get<std::string>(), secret_context(id, name));
    }
    // Without the key (kiwid shows revisions, never their secrets) the value stays unreadable.
    value = plain ? *plain : std::string("***");
  }
  return parse_environment(j, "config");
}

deployment_revision deployment_store::decode(const redis_value& hash) const {
  deployment_revision d;
  std::string config;
  for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
    const std::string& k = hash.elements[i].str;
    const std::string& v = hash.elements[i + 1].str;
    if (k == "id") d.id = v;
    else if (k == "service") d.service = v;
    else if (k == "environment") d.environment = v;
    else if (k == "revision") d.revision = std::stoull(v);
    else if (k == "build_id") d.build_id = v;
    else if (k == "image") d.image = v;
    else if (k == "config") config = v;
    else if (k == "trigger") d.trigger = v;
    else if (k == "rollback_of") d.rollback_of = v;
    else if (k == "status") d.status = v;
    else if (k == "message") d.message = v;
    else if (k == "diagnostics") d.diagnostics = json::parse(v).get<std::vector<std::string>>();
    else if (k == "url") d.url = v;
    else if (k == "job_id") d.job_id = v;
    else if (k == "created_at") d.created_at = from_millis(v);
    else if (k == "started_at") d.started_at = from_millis(v);
    else if (k == "finished_at") d.finished_at = from_millis(v);
  }
  if (!config.empty()) {
    d.config = open_config(d.id, config);
  }
  return d;
}

asio::awaitable<deployment_store::result<deployment_revision>> deployment_store::create(
    deployment_revision d) {
  if (d.id.empty()) {
    d.id = new_build_id();
  }
  d.created_at = clock::now();
  d.config.name = d.environment;
  std::vector<std::string> k{keys::deployment_numbers(), keys::deployments(d.service, d.environment),
                             keys::service_protected_builds(d.service),
                             keys::deployed_builds(d.service)};
  std::vector<std::string> a{d.id, d.service + "/" + d.environment, std::to_string(keep_),
                             d.build_id};
  const field_list fields{{"id", d.id},
                          {"service", d.service},
                          {"environment", d.environment},
                          {"build_id", d.build_id},
                          {"image", d.image},
                          {"config", seal_config(d.id, d.config)},
                          {"trigger", d.trigger},
                          {"rollback_of", d.rollback_of},
                          {"status", d.status},
                          {"message", d.message},
                          {"diagnostics", json(d.diagnostics).dump()},
                          {"url", d.url},
                          {"job_id", d.job_id},
                          {"created_at", millis_text(d.created_at)}};
  queue_scripts::append_fields(a, fields);
  auto r = co_await redis_.eval(queue_scripts::deploy_create, k, a, timeout_);
  if (r) {
    d.revision = static_cast<unsigned long long>(r.value.integer);
  }
  co_return std::pair{r.ec, d};
}

asio::awaitable<deployment_store::result<std::optional<deployment_revision>>>
deployment_store::get(const std::string& id) {
  auto r = co_await redis_.command(redis_args("HGETALL", keys::deployment(id)), timeout_);
  std::optional<deployment_revision> d;
  if (r && !r.value.elements.empty()) {
    d = decode(r.value);
  }
  co_return std::pair{r.ec, d};
}

asio::awaitable<deployment_store::result<std::vector<deployment_revision>>>
deployment_store::list(const std::string& service, const std::string& environment,
                       unsigned limit) {
  std::vector<deployment_revision> out;
  auto ids = co_await redis_.command(
      redis_args("ZREVRANGE", keys::deployments(service, environment), "0",
                 std::to_string(limit == 0 ? 0 : limit - 1)),
      timeout_);
  if (!ids) {
    co_return std::pair{ids.ec, out};
  }
  for (const auto& id : ids.value.elements) {
    auto [ec, d] = co_await get(id.str);
    if (ec) {
      co_return std::pair{ec, out};
    }
    if (d) {
      out.push_back(std::move(*d));
    }
  }
  co_return std::pair{boost::system::error_code{}, out};
}

asio::awaitable<deployment_store::result<bool>> deployment_store::set_status(
    const std::string& id, const std::string& status, const std::string& message,
    const std::vector<std::string>& diagnostics, const std::string& url) {
  const std::string key = keys::deployment(id);
  auto exists = co_await redis_.command(redis_args("EXISTS", key), timeout_);
  if (!exists || exists.value.integer == 0) {
    co_return std::pair{exists.ec, false};
  }
  std::vector<std::string> args = redis_args("HSET", key, "status", status, "message", message);
  const std::string now = millis_text(clock::now());
  if (status == "running") {
    args.insert(args.end(), {"started_at", now});
  } else if (status == "succeeded" || status == "failed") {
    args.insert(args.end(), {"finished_at", now});
  }
  if (!diagnostics.empty()) {
    args.insert(args.end(), {"diagnostics", json(diagnostics).dump()});
  }
  if (!url.empty()) {
    args.insert(args.end(), {"url", url});
  }
  auto r = co_await redis_.command(std::move(args), timeout_);
  co_return std::pair{r.ec, static_cast<bool>(r)};
}

asio::awaitable<deployment_store::result<std::optional<deployment_revision>>>
deployment_store::last_succeeded(const std::string& service, const std::string& environment,
                                 unsigned long long before) {
  const std::string max = before == 0 ? "+inf" : "(" + std::to_string(before);
  auto ids = co_await redis_.command(
      redis_args("ZREVRANGEBYSCORE", keys::deployments(service, environment), max, "-inf"),
      timeout_);
  std::optional<deployment_revision> found;
  for (const auto& id : ids.value.elements) {
    auto [ec, d] = co_await get(id.str);
    if (ec) {
      co_return std::pair{ec, found};
    }
    if (d && d->status == "succeeded") {
      found = std::move(d);
      break;
    }
  }
  co_return std::pair{ids.ec, found};
}

namespace {
std::string lease_text(std::chrono::milliseconds lease) { return std::to_string(lease.count()); }
}  // namespace

asio::awaitable<deployment_store::result<bool>> deployment_store::acquire(
    const std::string& service, const std::string& environment, const std::string& deployment_id,
    std::chrono::milliseconds lease) {
  const std::vector<std::string> k{keys::deploy_lock(service, environment)};
  const auto a = redis_args("acquire", deployment_id, lease_text(lease));
  auto r = co_await redis_.eval(queue_scripts::deploy_lock, k, a, timeout_);
  co_return std::pair{r.ec, r && r.value.integer == 1};
}

asio::awaitable<deployment_store::result<bool>> deployment_store::renew(
    const std::string& service, const std::string& environment, const std::string& deployment_id,
    std::chrono::milliseconds lease) {
  const std::vector<std::string> k{keys::deploy_lock(service, environment)};
  const auto a = redis_args("renew", deployment_id, lease_text(lease));
  auto r = co_await redis_.eval(queue_scripts::deploy_lock, k, a, timeout_);
  co_return std::pair{r.ec, r && r.value.integer == 1};
}

asio::awaitable<deployment_store::result<bool>> deployment_store::release(
    const std::string& service, const std::string& environment, const std::string& deployment_id) {
  const std::vector<std::string> k{keys::deploy_lock(service, environment)};
  const auto a = redis_args("release", deployment_id, "0");
  auto r = co_await redis_.eval(queue_scripts::deploy_lock, k, a, timeout_);
  co_return std::pair{r.ec, r && r.value.integer == 1};
}

}  // namespace kiwi
