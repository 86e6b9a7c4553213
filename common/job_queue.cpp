#include "common/job_queue.hpp"

#include "common/redis_keys.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

// KEYS: delivery, build, jobs, build events, service builds, build numbers
// ARGV: build id, ttl s, service, queued_at ms, event prefix, channel, service channel,
//       field/value pairs...
const lua_script enqueue_script(R"lua(
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
local number = redis.call('HINCRBY', KEYS[6], ARGV[3], 1)
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'number', number, 'status', 'queued',
           'queued_at', ARGV[4], 'seq', 1, unpack(ARGV, 8))
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('XADD', KEYS[3], '*', 'build', ARGV[1], 'number', number, unpack(ARGV, 8))
local ev = ARGV[5] .. ',"seq":1}'
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'seq', 1, 'event', ev)
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
redis.call('PUBLISH', ARGV[6], ev)
redis.call('PUBLISH', ARGV[7], ev)
return {1, ARGV[1], number}
)lua");

// KEYS: build, build events, jobs, outcomes
// ARGV: event prefix, channel, service channel, entry id or '', group, outcome or '',
//       field/value pairs...
const lua_script record_script(R"lua(
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if #ARGV >= 8 then redis.call('HSET', KEYS[1], unpack(ARGV, 7)) end
local ev = ARGV[1] .. ',"seq":' .. seq .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'seq', seq, 'event', ev)
redis.call('PUBLISH', ARGV[2], ev)
redis.call('PUBLISH', ARGV[3], ev)
if ARGV[4] ~= '' then
  redis.call('XACK', KEYS[3], ARGV[5], ARGV[4])
  redis.call('XDEL', KEYS[3], ARGV[4])
end
if ARGV[6] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[6], 1) end
return seq
)lua");

}  // namespace

const std::string* queued_job::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) {
      return &v;
    }
  }
  return nullptr;
}

job_queue::job_queue(redis_client& redis, std::chrono::milliseconds timeout)
    : redis_(redis), timeout_(timeout) {}

asio::awaitable<boost::system::error_code> job_queue::ensure_group() {
  auto r = co_await redis_.command(
      redis_args("XGROUP", "CREATE", keys::jobs(), keys::job_group, "0", "MKSTREAM"), timeout_);
  if (r.ec == redis_errc::server_error && r.value.str.starts_with("BUSYGROUP")) {
    co_return boost::system::error_code{};
  }
  co_return r.ec;
}

asio::awaitable<std::pair<boost::system::error_code, enqueue_outcome>> job_queue::enqueue(
    const enqueue_request& request) {
  std::vector<std::string> k{keys::delivery(request.provider, request.delivery_id),
                             keys::build(request.build_id),
                             keys::jobs(),
                             keys::build_events(request.build_id),
                             keys::service_builds(request.service),
                             keys::build_numbers()};
  std::vector<std::string> a{request.build_id,
                             std::to_string(delivery_ttl.count()),
                             request.service,
                             std::to_string(unix_millis(request.queued_event.ts)),
                             event_json_prefix(request.queued_event),
                             std::string(keys::events_channel),
                             keys::service_events_channel(request.service)};
  a.reserve(a.size() + 2 * request.fields.size());
  for (const auto& [f, v] : request.fields) {
    a.push_back(f);
    a.push_back(v);
  }
  auto r = co_await redis_.eval(enqueue_script, k, a, timeout_);
  enqueue_outcome out;
  if (!r) {
    co_return std::pair{r.ec, out};
  }
  const auto& e = r.value.elements;
  if (r.value.type != redis_value::kind::array || e.size() < 2) {
    co_return std::pair{make_error_code(redis_errc::server_error), out};
  }
  out.created = e[0].integer == 1;
  out.build_id = e[1].as_string().value_or("");
  if (e.size() > 2) {
    out.number = e[2].integer;
  }
  co_return std::pair{boost::system::error_code{}, out};
}

asio::awaitable<boost::system::error_code> job_queue::record(const build_event& event,
                                                             const field_list& build_fields,
                                                             const std::optional<acknowledge>& ack) {
  std::vector<std::string> k{keys::build(event.build_id), keys::build_events(event.build_id),
                             keys::jobs(), keys::job_outcomes()};
  std::vector<std::string> a{event_json_prefix(event),
                             std::string(keys::events_channel),
                             keys::service_events_channel(event.service),
                             ack ? ack->entry_id : std::string(),
                             std::string(keys::job_group),
                             ack ? ack->outcome : std::string()};
  for (const auto& [f, v] : build_fields) {
    a.push_back(f);
    a.push_back(v);
  }
  auto r = co_await redis_.eval(record_script, k, a, timeout_);
  co_return r.ec;
}

void job_queue::record_detached(const build_event& event) {
  redis_.send_detached({"EVAL", record_script.source, "4", keys::build(event.build_id),
                        keys::build_events(event.build_id), keys::jobs(), keys::job_outcomes(),
                        event_json_prefix(event), std::string(keys::events_channel),
                        keys::service_events_channel(event.service), "",
                        std::string(keys::job_group), ""});
}

std::vector<queued_job> decode_jobs(const redis_value& reply) {
  std::vector<queued_job> jobs;
  if (reply.type != redis_value::kind::array) {
    return jobs;  // nil: the block timed out with nothing new
  }
  for (const auto& stream : reply.elements) {
    if (stream.elements.size() != 2) {
      continue;
    }
    for (const auto& entry : stream.elements[1].elements) {
      if (entry.elements.size() != 2) {
        continue;
      }
      queued_job job;
      job.entry_id = entry.elements[0].str;
      const auto& kv = entry.elements[1].elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
        if (kv[i].str == "build") {
          job.build_id = kv[i + 1].str;
        } else {
          job.fields.emplace_back(kv[i].str, kv[i + 1].str);
        }
      }
      jobs.push_back(std::move(job));
    }
  }
  return jobs;
}

asio::awaitable<std::pair<boost::system::error_code, std::vector<queued_job>>> job_queue::read(
    const std::string& consumer, unsigned count, std::chrono::milliseconds block) {
  auto r = co_await redis_.command(redis_args("XREADGROUP", "GROUP", keys::job_group, consumer, "COUNT",
                                              std::to_string(count), "BLOCK",
                                              std::to_string(block.count()), "STREAMS",
                                              keys::jobs(), ">"),
                                   block + timeout_);
  if (r.ec == redis_errc::server_error && r.value.str.starts_with("NOGROUP")) {
    // The stream was removed (FLUSHALL, a Redis without persistence restarted): recreate.
    if (auto ec = co_await ensure_group(); ec) {
      co_return std::pair{ec, std::vector<queued_job>{}};
    }
    co_return std::pair{boost::system::error_code{}, std::vector<queued_job>{}};
  }
  if (!r) {
    co_return std::pair{r.ec, std::vector<queued_job>{}};
  }
  co_return std::pair{boost::system::error_code{}, decode_jobs(r.value)};
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

}  // namespace kiwi
