// kiwi-queue-tool: drives Kiwi's queue directly, for benchmarks and tests (no HTTP in the way).
//   kiwi-queue-tool --config FILE enqueue --service S [--count N] [--noop-ms MS] [--ref REF]
//                   [--rate JOBS_PER_S] [--window W] [--ids]
//       Enqueues N jobs of kind noop (one stage sleeping MS) for service S: with --rate, one at
//       a time at that pace (for latency); otherwise W at a time through one pipelined
//       connection (default 64). --ids prints each build id. The last line is
//       "enqueued N in S s (R jobs/s)". Each build records enqueued_us (send time, µs).
//   kiwi-queue-tool --config FILE cancel BUILD_ID
//       Prints what became of the build: cancelled, cancelling, not_found or its final status.
// Exit status: 0 on success, 1 when Redis refused or failed, 2 on usage errors.

#include <cstdio>
#include <iostream>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/queue/build_id.hpp"
#include "common/config/config.hpp"
#include "common/queue/job_queue.hpp"
#include "common/base/logging.hpp"
#include "common/redis/redis_client.hpp"

namespace asio = boost::asio;
using namespace kiwi;

namespace {

struct options {
  std::string config;
  std::string command;
  std::string service;
  std::string ref = "refs/heads/main";
  std::string build_id;
  long count = 1;
  long noop_ms = 0;
  double rate = 0;
  long window = 64;
  bool ids = false;
};

long long micros_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

enqueue_request noop_job(const options& o, const service_config* svc) {
  enqueue_request r;
  r.build_id = new_build_id();
  r.provider = "bench";
  r.delivery_id = r.build_id;
  r.service = o.service;
  if (svc != nullptr) {
    r.cancel_superseded = svc->cancel_superseded;
    r.max_concurrent_builds = svc->max_concurrent_builds;
  }
  r.fields = {{"service", o.service},     {"kind", "noop"},
              {"trigger", "bench"},       {"ref", o.ref},
              {"sha", ""},                {"noop_ms", std::to_string(o.noop_ms)},
              {"first_stage", "noop"},
              {"first_message", "no-op stage (" + std::to_string(o.noop_ms) + " ms)"},
              {"enqueued_us", std::to_string(micros_now())}};
  r.queued_event.type = event_type::build_queued;
  r.queued_event.build_id = r.build_id;
  r.queued_event.service = o.service;
  r.queued_event.ref = o.ref;
  r.queued_event.status = "queued";
  r.queued_event.message = "no-op job";
  return r;
}

// Non-coroutine builder: GCC 12 miscompiles braced lists inside coroutines.
std::vector<std::pair<std::string, unsigned>> limits_of(const service_config& svc) {
  return {{svc.name, svc.max_concurrent_builds}};
}

struct run_state {
  long next = 0;
  long done = 0;
  bool failed = false;
};

asio::awaitable<void> enqueue_worker(job_queue& q, const options& o, const service_config* svc,
                                     run_state& st) {
  while (!st.failed && st.next < o.count) {
    ++st.next;
    const enqueue_request req = noop_job(o, svc);
    auto [ec, out] = co_await q.enqueue(req);
    if (ec) {
      std::cerr << "enqueue failed: " << ec.message() << "\n";
      st.failed = true;
      co_return;
    }
    if (o.ids) {
      std::printf("%s\n", out.build_id.c_str());
    }
    ++st.done;
    if (o.rate > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor,
                           std::chrono::microseconds(static_cast<long long>(1e6 / o.rate)));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

asio::awaitable<void> wait_connected(redis_client& redis) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 200 && !redis.connected(); ++i) {
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<int> run(const options& o, const kiwi_config& config, redis_client& redis) {
  co_await wait_connected(redis);
  job_queue q(redis, std::chrono::seconds(5));
  if (o.command == "cancel") {
    const std::string message = "cancelled with kiwi-queue-tool";
    auto [ec, state] = co_await q.cancel(o.build_id, message);
    if (ec) {
      std::cerr << "cancel failed: " << ec.message() << "\n";
      co_return 1;
    }
    std::printf("%s\n", state.c_str());
    co_return 0;
  }
  const service_config* svc = config.find_service(o.service);
  if (svc != nullptr) {
    const auto limits = limits_of(*svc);
    if (auto ec = co_await q.set_service_limits(limits); ec) {
      std::cerr << "cannot publish the service's max_concurrent_builds: " << ec.message() << "\n";
      co_return 1;
    }
  }
  run_state st;
  const auto started = std::chrono::steady_clock::now();
  const long window = o.rate > 0 ? 1 : std::max(1L, o.window);
  auto executor = co_await asio::this_coro::executor;
  long finished = 0;
  for (long i = 0; i < window; ++i) {
    asio::co_spawn(executor, enqueue_worker(q, o, svc, st), [&finished](std::exception_ptr) {
      ++finished;
    });
  }
  asio::steady_timer t(executor);
  while (finished < window) {
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("enqueued %ld in %.3f s (%.0f jobs/s)\n", st.done, secs, st.done / secs);
  co_return st.failed ? 1 : 0;
}

int usage() {
  std::cerr << "usage: kiwi-queue-tool --config FILE enqueue --service S [--count N] "
               "[--noop-ms MS] [--ref REF] [--rate JOBS_PER_S] [--window W] [--ids]\n"
               "       kiwi-queue-tool --config FILE cancel BUILD_ID\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--config") o.config = value();
    else if (a == "--service") o.service = value();
    else if (a == "--ref") o.ref = value();
    else if (a == "--count") o.count = std::atol(value().c_str());
    else if (a == "--noop-ms") o.noop_ms = std::atol(value().c_str());
    else if (a == "--rate") o.rate = std::atof(value().c_str());
    else if (a == "--window") o.window = std::atol(value().c_str());
    else if (a == "--ids") o.ids = true;
    else if (o.command.empty()) o.command = a;
    else if (o.command == "cancel" && o.build_id.empty()) o.build_id = a;
    else return usage();
  }
  if (o.config.empty() || (o.command != "enqueue" && o.command != "cancel") ||
      (o.command == "enqueue" && (o.service.empty() || o.count < 1)) ||
      (o.command == "cancel" && o.build_id.empty())) {
    return usage();
  }
  kiwi::init_logging(kiwi::parse_log_format("text"), "kiwi-queue-tool");  // logs go to stderr
  kiwi_config config;
  try {
    config = load_config(o.config);
  } catch (const config_error& e) {
    std::cerr << "invalid configuration " << o.config << ": " << e.what() << "\n";
    return 2;
  }
  asio::io_context io(1);
  redis_client redis(io.get_executor(), config.redis, "queue-tool");
  redis.start();
  int code = 1;
  asio::co_spawn(io, run(o, config, redis), [&](std::exception_ptr e, int c) {
    code = e ? 1 : c;
    redis.stop();
  });
  io.run();
  return code;
}
