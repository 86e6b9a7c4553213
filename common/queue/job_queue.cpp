#include "common/queue/job_queue.hpp"

#include "common/queue/queue_scripts.hpp"
#include "common/redis/redis_keys.hpp"

// The producer and admin side of the queue: enqueue, cancel, dead-letter requeue, service
// limits, build records (the consumer side is job_consumer.cpp, retention retention.cpp).

namespace asio = boost::asio;

namespace kiwi {

std::string_view to_string(job_outcome o) {
  switch (o) {
    case job_outcome::succeeded: return "succeeded";
    case job_outcome::failed: return "failed";
    case job_outcome::cancelled: return "cancelled";
    case job_outcome::superseded: return "superseded";
    case job_outcome::retry: return "retry";
    case job_outcome::dead_letter: return "dead_letter";
  }
  return "failed";
}

const std::string* claimed_job::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) {
      return &v;
    }
  }
  return nullptr;
}

std::string claimed_job::field_or(std::string_view name, std::string fallback) const {
  const std::string* v = field(name);
  if (v != nullptr) {
    return *v;
  }
  return fallback;  // moved (std::move inside ?: copied it: performance-move-const-arg)
}

asio::awaitable<std::pair<boost::system::error_code, enqueue_outcome>> job_queue::enqueue(
    const enqueue_request& request) {
  const bool replay_guard = !request.replay_digest.empty() && request.replay_window.count() > 0;
  std::vector<std::string> k{keys::delivery(request.provider, request.delivery_id),
                             keys::build(request.build_id), keys::service_builds(request.service),
                             keys::build_numbers(),
                             keys::replay(request.service, request.replay_digest)};
  std::vector<std::string> a{request.build_id,
                             std::to_string(delivery_ttl.count()),
                             request.service,
                             std::to_string(unix_millis(request.queued_event.ts)),
                             event_json_prefix(request.queued_event),
                             request.queued_event.ref,
                             request.cancel_superseded ? "1" : "0",
                             replay_guard ? std::to_string(request.replay_window.count()) : "0",
                             format_timestamp(request.queued_event.ts)};
  queue_scripts::append_fields(a, request.fields);
  auto r = co_await redis_.eval(queue_scripts::enqueue, k, a, timeout_);
  enqueue_outcome out;
  if (!r) {
    co_return std::pair{r.ec, out};
  }
  const auto& e = r.value.elements;
  if (r.value.type != redis_value::kind::array || e.size() < 4) {
    co_return std::pair{make_error_code(redis_errc::server_error), out};
  }
  out.created = e[0].integer == 1;
  out.build_id = e[1].as_string().value_or("");
  out.number = e[2].integer;
  out.superseded = e[3].integer;
  co_return std::pair{boost::system::error_code{}, out};
}

asio::awaitable<std::pair<boost::system::error_code, std::string>> job_queue::cancel(
    const std::string& build_id, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> k{keys::build(build_id)};
  std::vector<std::string> a{build_id, std::to_string(unix_millis(now)), format_timestamp(now),
                             message};
  auto r = co_await redis_.eval(queue_scripts::cancel, k, a, timeout_);
  co_return std::pair{r.ec, r.value.as_string().value_or("")};
}

asio::awaitable<std::pair<boost::system::error_code, std::string>> job_queue::requeue_dead(
    const std::string& entry_id, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> k{keys::dead_letters()};
  std::vector<std::string> a{entry_id, std::to_string(unix_millis(now)), format_timestamp(now),
                             message};
  auto r = co_await redis_.eval(queue_scripts::requeue_dead, k, a, timeout_);
  co_return std::pair{r.ec, r.value.as_string().value_or("")};
}

asio::awaitable<boost::system::error_code> job_queue::set_service_limits(
    const std::vector<std::pair<std::string, unsigned>>& limits) {
  for (const auto& [service, max] : limits) {
    auto r = co_await redis_.command(
        redis_args("HSET", keys::service_settings(service), "max", std::to_string(max)), timeout_);
    if (!r) {
      co_return r.ec;
    }
  }
  co_return boost::system::error_code{};
}

asio::awaitable<std::pair<boost::system::error_code, field_list>> job_queue::build_record(
    const std::string& build_id) {
  auto r = co_await redis_.command(redis_args("HGETALL", keys::build(build_id)), timeout_);
  field_list fields;
  if (!r) {
    co_return std::pair{r.ec, fields};
  }
  for (std::size_t i = 0; i + 1 < r.value.elements.size(); i += 2) {
    fields.emplace_back(r.value.elements[i].str, r.value.elements[i + 1].str);
  }
  co_return std::pair{boost::system::error_code{}, fields};
}

asio::awaitable<boost::system::error_code> job_queue::store_scan_report(const std::string& build_id,
                                                                   const std::string& report) {
  auto r = co_await redis_.command(redis_args("SET", keys::build_scan_report(build_id), report),
                                   timeout_);
  co_return r.ec;
}

asio::awaitable<std::pair<boost::system::error_code, std::optional<std::string>>>
job_queue::scan_report(const std::string& build_id) {
  auto r = co_await redis_.command(redis_args("GET", keys::build_scan_report(build_id)), timeout_);
  if (!r) {
    co_return std::pair{r.ec, std::optional<std::string>{}};
  }
  co_return std::pair{boost::system::error_code{}, r.value.as_string()};
}

}  // namespace kiwi
