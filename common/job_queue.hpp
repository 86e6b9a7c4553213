#pragma once
// Kiwi's job queue and build store on Redis (docs/redis.md):
// - enqueue: delivery dedup + build record + job XADD + build.queued event, one Lua script,
//   one round trip;
// - record: an event (seq assigned in Redis), build-record fields, and optionally the job's
//   XACK+XDEL and outcome counter, atomically, so a job is acknowledged only together with its
//   recorded outcome;
// - read: XREADGROUP for a consumer.

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/build_event.hpp"
#include "common/redis_client.hpp"

namespace kiwi {

using field_list = std::vector<std::pair<std::string, std::string>>;

// A job as it travels through the stream. `fields` hold service, ref, sha, branch, ...
struct queued_job {
  std::string entry_id;  // stream entry id
  std::string build_id;
  field_list fields;
  const std::string* field(std::string_view name) const;
};

struct enqueue_request {
  std::string build_id;      // new_build_id()
  std::string provider;      // "github", "gitlab", "api"
  std::string delivery_id;   // redelivery guard key; unique per webhook delivery
  std::string service;
  field_list fields;         // stored in the build record and the job entry
  build_event queued_event;  // build.queued
};

struct enqueue_outcome {
  bool created = false;    // false: the delivery was seen before
  std::string build_id;    // the new build, or the original one of a redelivery
  long long number = 0;    // per-service build number (new builds only)
};

struct acknowledge {
  std::string entry_id;
  std::string outcome;  // counted in stats:outcomes ("succeeded", "failed")
};

class job_queue {
 public:
  job_queue(redis_client& redis, std::chrono::milliseconds timeout);

  static constexpr std::chrono::seconds delivery_ttl{7 * 24 * 3600};

  // Creates the consumer group (idempotent).
  boost::asio::awaitable<boost::system::error_code> ensure_group();

  boost::asio::awaitable<std::pair<boost::system::error_code, enqueue_outcome>> enqueue(
      const enqueue_request& request);

  boost::asio::awaitable<boost::system::error_code> record(
      const build_event& event, const field_list& build_fields,
      const std::optional<acknowledge>& ack = std::nullopt);

  // Writes the event to the connection at once without waiting for the reply: for log lines,
  // which must keep their order relative to what the job records next. Lost if Redis is down.
  void record_detached(const build_event& event);

  // Up to `count` new jobs for `consumer`, waiting up to `block` for the first one.
  boost::asio::awaitable<std::pair<boost::system::error_code, std::vector<queued_job>>> read(
      const std::string& consumer, unsigned count, std::chrono::milliseconds block);

  // Fields of a build record (empty when it does not exist).
  boost::asio::awaitable<std::pair<boost::system::error_code, field_list>> build_record(
      const std::string& build_id);

 private:
  redis_client& redis_;
  std::chrono::milliseconds timeout_;
};

// Decodes an XREADGROUP reply; exposed for tests.
std::vector<queued_job> decode_jobs(const redis_value& reply);

}  // namespace kiwi
