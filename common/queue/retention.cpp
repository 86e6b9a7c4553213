#include "common/queue/job_queue.hpp"

#include <ctime>

#include "common/queue/build_id.hpp"
#include "common/queue/queue_scripts.hpp"
#include "common/redis/redis_keys.hpp"

// Retention of ended builds (docs/redis.md#retention): the rules are in lua/retention.lua; the
// finish script applies them to the services it touched, prune() to one service, and
// sweep_retention() walks every service a step at a time.

namespace asio = boost::asio;

namespace kiwi {
namespace {

long long max_age_ms(const retention_config& policy) {
  return static_cast<long long>(policy.max_age_days) * 24 * 3600 * 1000;
}

asio::awaitable<std::pair<boost::system::error_code, prune_outcome>> run_prune(
    redis_client& redis, std::chrono::milliseconds timeout, const retention_config& policy,
    const std::string& mode, const std::string& target, unsigned limit) {
  std::vector<std::string> k{keys::build_numbers(), keys::retention()};
  std::vector<std::string> a{std::to_string(policy.builds_per_service),
                             std::to_string(max_age_ms(policy)),
                             queue_scripts::now_millis_text(),
                             mode,
                             target,
                             std::to_string(limit)};
  auto r = co_await redis.eval(queue_scripts::prune, k, a, timeout);
  prune_outcome out;
  if (!r) {
    co_return std::pair{r.ec, out};
  }
  const auto& e = r.value.elements;
  if (r.value.type != redis_value::kind::array || e.size() != 3) {
    co_return std::pair{make_error_code(redis_errc::server_error), out};
  }
  out.removed = e[0].integer;
  out.services = e[1].integer;
  out.cursor = e[2].as_string().value_or("0");
  co_return std::pair{boost::system::error_code{}, out};
}

}  // namespace

void job_queue::append_retention_args(std::vector<std::string>& args,
                                      const std::optional<retention_config>& policy) {
  args.push_back(policy ? std::to_string(policy->builds_per_service) : "");
  args.push_back(policy ? std::to_string(max_age_ms(*policy)) : "");
  args.push_back(std::to_string(prune_batch));
}

asio::awaitable<std::pair<boost::system::error_code, prune_outcome>> job_queue::prune(
    const retention_config& policy, const std::string& service, unsigned limit) {
  co_return co_await run_prune(redis_, timeout_, policy, "service", service, limit);
}

asio::awaitable<std::pair<boost::system::error_code, prune_outcome>> job_queue::sweep_retention(
    const retention_config& policy, unsigned services, unsigned limit) {
  co_return co_await run_prune(redis_, timeout_, policy, "sweep", std::to_string(services),
                               limit);
}

asio::awaitable<boost::system::error_code> job_queue::protect_build(const std::string& service,
                                                                    const std::string& build_id) {
  auto r = co_await redis_.command(
      redis_args("SADD", keys::service_protected_builds(service), build_id), timeout_);
  co_return r.ec;
}

asio::awaitable<boost::system::error_code> job_queue::unprotect_build(
    const std::string& service, const std::string& build_id) {
  auto r = co_await redis_.command(
      redis_args("SREM", keys::service_protected_builds(service), build_id), timeout_);
  co_return r.ec;
}

std::string missing_build_message(std::string_view build_id, const retention_config& policy,
                                  std::chrono::system_clock::time_point now) {
  const std::string id(build_id);
  const auto made = build_id_time(build_id);
  if (!made || *made > now - std::chrono::hours(24) * policy.max_age_days) {
    return "no build " + id;
  }
  const std::time_t t = std::chrono::system_clock::to_time_t(*made);
  std::tm day{};
  gmtime_r(&t, &day);
  char date[16];
  std::strftime(date, sizeof date, "%Y-%m-%d", &day);
  return "no build " + id + ": it was queued on " + date +
         ", and retention removes builds older than " + std::to_string(policy.max_age_days) +
         " days beyond their service's newest " + std::to_string(policy.builds_per_service) +
         " (retention.max_age_days, retention.builds_per_service), so it was removed (or never "
         "existed)";
}

}  // namespace kiwi
