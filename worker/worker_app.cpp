#include "worker/worker_app.hpp"

#include <unistd.h>

#include <map>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/base/data_dir.hpp"
#include "common/queue/job_queue.hpp"
#include "common/redis/redis_client.hpp"
#include "common/security/secret_box.hpp"
#include "common/base/service_notify.hpp"
#include "common/base/systemd_watchdog.hpp"
#include "worker/disk_sweeper.hpp"
#include "worker/job_runner.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How long an idle worker blocks on the wake list before it claims anyway: the bound on how
// late it notices due retries and expired leases when nothing else wakes it.
constexpr std::chrono::milliseconds idle_wait{1000};

// Heartbeats come often enough that a cancel request stops a build well within 2 s, and at
// least four times per visibility timeout so one lost beat never costs a lease.
std::chrono::milliseconds heartbeat_interval(const queue_config& q) {
  return std::clamp(q.visibility_timeout / 4, std::chrono::milliseconds(50),
                    std::chrono::milliseconds(500));
}

struct running_build {
  std::string lease;
  std::shared_ptr<job_control> control;
};

// The claim loop, heartbeats and bookkeeping; everything runs on the one I/O thread.
struct consumer {
  consumer(asio::io_context& io, const kiwi_config& config, asio::thread_pool& blocking,
           std::string name, const secret_box* box, build_network network)
      : config(config),
        name(std::move(name)),
        reader(io.get_executor(), config.redis, "claim"),
        writer(io.get_executor(), config.redis, "events"),
        reader_queue(reader, config.redis_timeout),
        writer_queue(writer, config.redis_timeout),
        store(writer, box, config.redis_timeout),
        deployments(writer, box, config.redis_timeout),
        runner(config, writer_queue, store, deployments, blocking, this->name,
               std::move(network)),
        sweeper(config, writer, store, blocking, io.get_executor()),
        slot_freed(io),
        beat(io) {
    writer_queue.set_retention(config.retention);  // each finish prunes its services
  }

  const kiwi_config& config;
  const std::string name;
  redis_client reader;  // claims and the blocking wait for work
  redis_client writer;  // events, heartbeats, outcomes
  job_queue reader_queue;
  job_queue writer_queue;
  resource_store store;
  deployment_store deployments;  // revisions the deploy stage runs (docs/deploy.md)
  job_runner runner;
  disk_sweeper sweeper;  // leftovers of killed builds, mirrors of deleted services (sweep.hpp)
  asio::steady_timer slot_freed;  // an event: cancelled whenever a build ends
  asio::steady_timer beat;
  std::map<std::string, running_build> running;
  bool stopping = false;

  asio::awaitable<void> wait_for_slot(std::chrono::milliseconds at_most) {
    slot_freed.expires_after(at_most);
    co_await slot_freed.async_wait(use_tuple);
  }

  void start(claimed_job job) {
    auto control = std::make_shared<job_control>();
    control->want_next = !stopping;
    const std::string id = job.build_id;
    running[id] = running_build{job.lease, control};
    asio::co_spawn(slot_freed.get_executor(), runner.run(std::move(job), *control),
                   [this, id, control](const std::exception_ptr& e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         spdlog::error("build {} ended with an exception: {}", id, ex.what());
                       }
                     }
                     running.erase(id);
                     // The build's finish claimed the next one for this slot (see
                     // job_queue::finish): no separate claim round trip.
                     for (auto& next : control->next) {
                       start(std::move(next));
                     }
                     slot_freed.cancel();
                   });
  }

  asio::awaitable<void> claim_loop() {
    spdlog::info("claiming builds as {} (concurrency {}, visibility timeout {} ms)", name,
                 config.worker.concurrency, config.queue.visibility_timeout.count());
    auto last_error = std::chrono::steady_clock::now();  // no warning while first connecting
    while (!stopping) {
      const std::size_t free =
          running.size() < config.worker.concurrency ? config.worker.concurrency - running.size() : 0;
      if (free == 0) {
        co_await wait_for_slot(std::chrono::seconds(1));
        continue;
      }
      auto [ec, jobs] = co_await reader_queue.claim(name, static_cast<unsigned>(free),
                                                    config.queue.visibility_timeout,
                                                    config.queue.max_attempts);
      if (stopping) {
        // Claimed while a SIGTERM arrived: run them; the drain hands back what does not end.
        for (auto& job : jobs) {
          start(std::move(job));
        }
        break;
      }
      if (ec) {
        auto now = std::chrono::steady_clock::now();
        if (now - last_error > std::chrono::seconds(10)) {
          spdlog::warn("claiming builds failed: {}; retrying", ec.message());
          last_error = now;
        }
        co_await wait_for_slot(std::chrono::milliseconds(500));
        continue;
      }
      if (jobs.empty()) {
        // Nothing to claim: block until an enqueue wakes this worker, which claims at once.
        auto [wait_ec, woken_jobs] = co_await reader_queue.wait_and_claim(
            name, static_cast<unsigned>(free), config.queue.visibility_timeout,
            config.queue.max_attempts, idle_wait);
        if (wait_ec && !stopping) {
          co_await wait_for_slot(std::chrono::milliseconds(500));  // Redis down: no busy loop
        }
        jobs = std::move(woken_jobs);
      }
      for (auto& job : jobs) {
        start(std::move(job));
      }
    }
  }

  asio::awaitable<void> heartbeat_loop() {
    const auto interval = heartbeat_interval(config.queue);
    std::vector<std::pair<std::string, unsigned>> limits;
    for (const auto& s : config.services) {
      limits.emplace_back(s.name, s.max_concurrent_builds);
    }
    auto limits_due = std::chrono::steady_clock::time_point{};
    while (!stopping || !running.empty()) {
      if (std::chrono::steady_clock::now() >= limits_due && writer.connected()) {
        if (!co_await writer_queue.set_service_limits(limits)) {
          limits_due = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          // A step of the retention sweep: services without new builds age out too.
          auto [sweep_ec, swept] = co_await writer_queue.sweep_retention(config.retention);
          if (!sweep_ec && swept.removed > 0) {
            spdlog::info("retention removed {} build(s)", swept.removed);
          }
        }
      }
      beat.expires_after(interval);
      co_await beat.async_wait(use_tuple);
      if (running.empty()) {
        continue;
      }
      std::vector<held_lease> held;
      held.reserve(running.size());
      for (const auto& [id, r] : running) {
        held.push_back(held_lease{id, r.lease});
      }
      auto [ec, notices] = co_await writer_queue.heartbeat(held, config.queue.visibility_timeout);
      if (ec) {
        continue;  // Redis down: the leases last the visibility timeout; try again next beat
      }
      for (const auto& n : notices) {
        auto it = running.find(n.build_id);
        if (it == running.end()) {
          continue;
        }
        job_control& c = *it->second.control;
        if (n.lost) {
          spdlog::warn("build {}: lease lost (another worker took it over); stopping it",
                       n.build_id);
          c.request_stop(stop_reason::lease_lost);
        } else if (!c.in_deploy && c.reason == stop_reason::none) {
          spdlog::info("build {}: {} requested; stopping it", n.build_id, n.reason);
          c.request_stop(n.reason == "superseded" ? stop_reason::superseded
                                                  : stop_reason::cancelled);
        }
      }
    }
  }

  // Stops claiming; lets running builds go on until the deadline, then hands them back.
  asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline) {
    stopping = true;
    sweeper.stop();
    // No more claims: closing the claim connection also ends a blocked BLPOP, so that the wake
    // token a hand-back pushes goes to a worker that can use it.
    reader.stop();
    for (auto& [id, r] : running) {
      r.control->want_next = false;
    }
    bool handed_back = false;
    auto give_up_at = deadline + std::chrono::seconds(10);
    while (!running.empty()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline && !handed_back) {
        spdlog::info("drain timeout: handing {} running build(s) back to the queue",
                     running.size());
        for (auto& [id, r] : running) {
          r.control->request_stop(stop_reason::shutdown);
        }
        handed_back = true;
      }
      if (now >= give_up_at) {
        runner.give_up_recording();
      }
      co_await wait_for_slot(std::chrono::milliseconds(50));
    }
    beat.cancel();
    writer.stop();
  }
};

}  // namespace

worker_app::worker_app(kiwi_config config) : config_(std::move(config)) {}

std::string worker_app::default_consumer_name() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) {
    std::snprintf(host, sizeof(host), "unknown");
  }
  return std::string(host) + "-" + std::to_string(getpid());
}

int worker_app::run() {
  asio::io_context io(1);
  // First: a SIGTERM during start-up (slow under a sanitizer, or a stop while starting) waits
  // here for the handler below instead of killing the worker with its default action.
  asio::signal_set signals(io, SIGTERM, SIGINT);
  // Private (0700) whatever the umask: clones, workspaces and image layers of private code.
  make_private_directory(config_.data_dir);
  for (const char* dir : {"mirrors", "workspaces", "buildah", "tmp"}) {
    make_private_directory(config_.data_dir / dir);
  }
  // Before any claim: a worker that cannot isolate builds as configured takes none.
  build_network network = prepare_build_network(config_.build, config_.data_dir / "buildah");
  asio::thread_pool blocking(config_.worker.blocking_threads);
  // The key that opens secrets of services registered through the API (the same file as kiwid's).
  std::optional<secret_box> box;
  try {
    box.emplace(secret_box::from_key_file(config_.secrets_key_file, true));
  } catch (const secret_key_error& e) {
    spdlog::warn("{}; builds of services registered through the API will fail", e.what());
  }
  consumer c(io, config_, blocking, default_consumer_name(), box ? &*box : nullptr,
             std::move(network));
  c.reader.start();
  c.writer.start();
  asio::co_spawn(io, c.claim_loop(), asio::detached);
  asio::co_spawn(io, c.heartbeat_loop(), asio::detached);
  asio::co_spawn(io, c.sweeper.run(), asio::detached);

  systemd_watchdog watchdog(io.get_executor());
  signals.async_wait([&](boost::system::error_code, int signo) {
    spdlog::info("received {}; no new builds, {} running may take up to {} ms",
                 signo == SIGTERM ? "SIGTERM" : "SIGINT", c.running.size(),
                 config_.worker.drain_timeout.count());
    notify_stopping();
    watchdog.stop();
    asio::co_spawn(io, c.drain(std::chrono::steady_clock::now() + config_.worker.drain_timeout),
                   asio::detached);
  });
  notify_ready();
  io.run();
  blocking.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace kiwi
