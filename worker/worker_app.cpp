#include "worker/worker_app.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/job_queue.hpp"
#include "common/redis_client.hpp"
#include "common/service_notify.hpp"
#include "common/systemd_watchdog.hpp"
#include "worker/job_runner.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds read_block{1000};

// The claim loop and its bookkeeping; everything runs on the one I/O thread.
struct consumer {
  consumer(asio::io_context& io, const kiwi_config& config, asio::thread_pool& blocking)
      : config(config),
        reader(io.get_executor(), config.redis, "claim"),
        writer(io.get_executor(), config.redis, "events"),
        reader_queue(reader, config.redis_timeout),
        writer_queue(writer, config.redis_timeout),
        runner(config, writer_queue, blocking),
        slot_freed(io) {}

  const kiwi_config& config;
  redis_client reader;  // XREADGROUP BLOCK holds its connection: it gets its own
  redis_client writer;  // events and acknowledgements
  job_queue reader_queue;
  job_queue writer_queue;
  job_runner runner;
  asio::steady_timer slot_freed;  // an event: cancelled whenever a job finishes
  unsigned running = 0;
  bool stopping = false;

  asio::awaitable<void> wait_for_event(std::chrono::milliseconds at_most) {
    slot_freed.expires_after(at_most);
    co_await slot_freed.async_wait(use_tuple);
  }

  asio::awaitable<void> claim_loop(std::string name) {
    while (!stopping) {
      if (auto ec = co_await reader_queue.ensure_group(); !ec) {
        break;
      }
      co_await wait_for_event(std::chrono::milliseconds(100));
    }
    spdlog::info("consuming jobs as {} (concurrency {})", name, config.worker.concurrency);
    auto last_error = std::chrono::steady_clock::time_point{};
    while (!stopping) {
      if (running >= config.worker.concurrency) {
        co_await wait_for_event(std::chrono::seconds(1));
        continue;
      }
      auto [ec, jobs] =
          co_await reader_queue.read(name, config.worker.concurrency - running, read_block);
      if (ec && stopping) {
        break;
      }
      if (ec) {
        auto now = std::chrono::steady_clock::now();
        if (now - last_error > std::chrono::seconds(10)) {
          spdlog::warn("claiming jobs failed: {}; retrying", ec.message());
          last_error = now;
        }
        co_await wait_for_event(std::chrono::milliseconds(500));
        continue;
      }
      for (auto& job : jobs) {
        ++running;
        asio::co_spawn(slot_freed.get_executor(), runner.run(std::move(job)),
                       [this](std::exception_ptr e) {
                         if (e) {
                           try {
                             std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                             spdlog::error("job ended with an exception: {}", ex.what());
                           }
                         }
                         --running;
                         slot_freed.cancel();
                       });
      }
    }
  }

  // Waits for running jobs until the deadline, then asks them to cancel.
  asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline) {
    stopping = true;
    while (running > 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        runner.cancel_all();
      }
      co_await wait_for_event(std::chrono::milliseconds(100));
    }
    reader.stop();
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
  std::filesystem::create_directories(config_.data_dir / "mirrors");
  std::filesystem::create_directories(config_.data_dir / "workspaces");
  asio::io_context io(1);
  asio::thread_pool blocking(config_.worker.blocking_threads);
  consumer c(io, config_, blocking);
  c.reader.start();
  c.writer.start();
  const std::string name = default_consumer_name();
  asio::co_spawn(io, c.claim_loop(name), asio::detached);

  asio::signal_set signals(io, SIGTERM, SIGINT);
  systemd_watchdog watchdog(io.get_executor());
  // A drain budget; running clone stages normally finish well within it.
  constexpr auto drain_timeout = std::chrono::seconds(60);
  signals.async_wait([&](boost::system::error_code, int signo) {
    spdlog::info("received {}; no new jobs, waiting for {} running",
                 signo == SIGTERM ? "SIGTERM" : "SIGINT", c.running);
    notify_stopping();
    watchdog.stop();
    asio::co_spawn(io, c.drain(std::chrono::steady_clock::now() + drain_timeout),
                   asio::detached);
  });
  notify_ready();
  io.run();
  blocking.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace kiwi
