#include "worker/disk_sweeper.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

constexpr std::size_t ids_per_command = 500;  // ZMSCORE arguments per round trip

}  // namespace

disk_sweeper::disk_sweeper(const kiwi_config& config, redis_client& redis, resource_store& store,
                           asio::thread_pool& blocking, asio::any_io_executor executor)
    : config_(config),
      redis_(redis),
      store_(store),
      blocking_(blocking),
      storage_{config.data_dir / "buildah", config.worker.storage_driver},
      timer_(std::move(executor)) {}

asio::awaitable<void> disk_sweeper::run() {
  // The first sweep waits for Redis (for up to ten seconds): its answer decides what may go.
  for (int i = 0; i < 100 && !redis_.connected() && !stopped_; ++i) {
    timer_.expires_after(std::chrono::milliseconds(100));
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  while (!stopped_) {
    co_await sweep_once();
    if (stopped_ || config_.worker.sweep_interval.count() == 0) {
      break;
    }
    timer_.expires_after(config_.worker.sweep_interval);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void disk_sweeper::stop() {
  stopped_ = true;
  timer_.cancel();
}

asio::awaitable<sweep_report> disk_sweeper::sweep_once() {
  auto home = co_await asio::this_coro::executor;
  const auto data_dir = config_.data_dir;
  const auto storage = storage_;
  // Named lambdas: GCC 12 destroys a lambda temporary inside a co_await expression twice.
  auto list = [data_dir, storage] { return survey_disk(data_dir, storage); };
  const disk_survey survey = co_await run_blocking(blocking_, home, list);
  const sweep_facts facts = co_await ask_redis(survey);
  const sweep_plan plan = plan_sweep(survey, facts);
  auto remove = [&plan, &survey, data_dir, storage] {
    return carry_out(plan, survey, data_dir, storage);
  };
  const sweep_report report = co_await run_blocking(blocking_, home, remove);
  if (report.removed_anything()) {
    spdlog::info("disk sweep: {}", describe(report));
  } else {
    spdlog::debug("disk sweep: nothing to remove");
  }
  for (const auto& problem : report.problems) {
    spdlog::warn("disk sweep: {}", problem);
  }
  if (!facts.redis_answered) {
    spdlog::warn("disk sweep: Redis did not answer; build leftovers and mirrors stay until the "
                 "next sweep");
  }
  co_return report;
}

asio::awaitable<sweep_facts> disk_sweeper::ask_redis(const disk_survey& survey) {
  sweep_facts facts;
  facts.keep_workspaces = config_.worker.keep_workspaces;
  const auto timeout = config_.redis_timeout;
  const std::set<std::string> ids = builds_to_check(survey);
  const std::vector<std::string> all(ids.begin(), ids.end());
  for (std::size_t first = 0; first < all.size(); first += ids_per_command) {
    const std::size_t end = std::min(all.size(), first + ids_per_command);
    std::vector<std::string> args = redis_args("ZMSCORE", keys::leases());
    args.insert(args.end(), all.begin() + static_cast<std::ptrdiff_t>(first),
                all.begin() + static_cast<std::ptrdiff_t>(end));
    const redis_result leases = co_await redis_.command(std::move(args), timeout);
    if (!leases || leases.value.elements.size() != end - first) {
      co_return facts;
    }
    for (std::size_t i = first; i < end; ++i) {
      const bool has_lease = !leases.value.elements[i - first].is_nil();
      std::optional<std::string> status;
      if (!has_lease) {
        const redis_result r =
            co_await redis_.command(redis_args("HGET", keys::build(all[i]), "status"), timeout);
        if (!r) {
          co_return facts;
        }
        status = r.value.as_string();
      }
      if (build_is_held(has_lease, status)) {
        facts.held_builds.insert(all[i]);
      }
    }
  }
  auto [ec, stored] = co_await store_.names(resource_kind::service);
  if (ec) {
    co_return facts;
  }
  facts.services.insert(stored.begin(), stored.end());
  for (const auto& s : config_.services) {
    facts.services.insert(s.name);
  }
  facts.redis_answered = true;
  co_return facts;
}

}  // namespace kiwi
