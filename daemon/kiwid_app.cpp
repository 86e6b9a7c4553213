#include "daemon/kiwid_app.hpp"

#include <fstream>
#include <list>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <spdlog/spdlog.h>

#include "common/base/data_dir.hpp"
#include "daemon/api_auth.hpp"
#include "common/security/secret_box.hpp"
#include "common/base/service_notify.hpp"
#include "common/base/systemd_watchdog.hpp"
#include "daemon/listener.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace kiwi {

// One I/O thread and everything it owns. Nothing here is touched from another thread except
// through posts to `io`.
struct kiwid_app::io_thread {
  io_thread(const kiwi_config& config, metrics& stats, connection_limits& admission,
            unsigned index, const secret_box* box, const std::string& admin_token_hash,
            auth_throttle& throttle)
      : io(1),
        redis(io.get_executor(), config.redis, "http-" + std::to_string(index)),
        queue(redis, config.redis_timeout),
        store(redis, box, config.redis_timeout),
        deployments(redis, box, config.redis_timeout),
        api{config, redis, queue, store, deployments, admin_token_hash, throttle},
        router{config,
               redis,
               queue,
               stats,
               admission.open_connections(),
               config.api.enabled ? &api : nullptr,
               nullptr,
               &admission} {
    registry.admission = &admission;
  }

  asio::io_context io;
  redis_client redis;
  job_queue queue;
  resource_store store;
  deployment_store deployments;
  api_context api;
  router_context router;
  session_registry registry;
  std::optional<tcp::acceptor> acceptor;
  std::thread thread;

  // Stops accepting, closes idle connections, waits for in-flight requests until the
  // deadline, then lets the thread's io_context run out of work.
  asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline) {
    registry.stopping = true;
    boost::system::error_code ignored;
    if (acceptor) {
      acceptor->close(ignored);
    }
    for (auto* socket : registry.idle) {
      socket->cancel(ignored);
    }
    asio::steady_timer tick(io);
    while (registry.active > 0 && std::chrono::steady_clock::now() < deadline) {
      tick.expires_after(std::chrono::milliseconds(10));
      co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (registry.active > 0) {
      spdlog::warn("shutdown: {} requests still running after http.shutdown_grace_ms; closing",
                   registry.active);
    }
    redis.stop();
    io.stop();
  }
};

kiwid_app::kiwid_app(kiwi_config config) : config_(std::move(config)) {}
kiwid_app::~kiwid_app() = default;

int kiwid_app::run() {
  metrics stats;
  connection_limits admission(admission_settings{
      config_.http.max_connections, config_.http.max_connections_per_client,
      config_.http.max_buffered_body_bytes, config_.http.max_event_streams_per_client});
  auth_throttle throttle;  // one for every thread: bad tokens count per client address
  std::list<io_thread> threads;
  session_limits limits{config_.max_body_bytes, config_.http.max_api_body_bytes,
                        config_.http.header_timeout, config_.http.body_timeout,
                        config_.http.idle_timeout};

  // Secrets at rest and the admin token: made on first start (0600) unless the files exist.
  std::optional<secret_box> box;
  std::string admin_token_hash;
  if (config_.api.enabled) {
    box.emplace(secret_box::from_key_file(config_.secrets_key_file, true));
    const auto& token_file = config_.api.admin_token_file;
    const bool existed = std::filesystem::exists(token_file);
    admin_token_hash = api_token_hash(
        read_or_create_private_file(token_file, [] { return generate_api_token(); }));
    if (!existed) {
      spdlog::info("api: created an admin token in {} (send it as Authorization: Bearer)",
                   token_file.string());
    }
  }

  unsigned short port = config_.listen_port;
  for (unsigned i = 0; i < config_.http.threads; ++i) {
    auto& t = threads.emplace_back(config_, stats, admission, i, box ? &*box : nullptr,
                                   admin_token_hash, throttle);
    t.acceptor.emplace(bind_acceptor(t.io, config_.listen_host, port));
    port = t.acceptor->local_endpoint().port();  // the others share the (maybe picked) port
    if (config_.public_url.empty()) {  // read by handlers only once the threads run
      const bool v6 = config_.listen_host.find(':') != std::string::npos;
      config_.public_url = "http://" + (v6 ? "[" + config_.listen_host + "]" : config_.listen_host) +
                           ":" + std::to_string(port);
    }
  }
  make_private_directory(config_.data_dir);
  write_private_file(config_.data_dir / "kiwid.port", std::to_string(port) + "\n");
  // Event streams: one follower of Redis for every thread's streams. Declared after the
  // threads, so it stops (joins) before their io_contexts go.
  std::optional<event_hub> events;
  if (config_.api.enabled) {
    events.emplace(config_.redis, config_.redis_timeout);
    for (auto& t : threads) {
      t.router.events = &*events;
    }
    events->start();
  }
  for (auto& t : threads) {
    t.redis.start();
    asio::co_spawn(t.io, run_listener(*t.acceptor, limits, t.router, t.registry), asio::detached);
    t.thread = std::thread([&t] { t.io.run(); });
  }
  spdlog::info("listening on {}:{} with {} I/O thread(s); Redis {}", config_.listen_host, port,
               config_.http.threads, config_.redis.describe());

  asio::io_context control(1);
  asio::signal_set signals(control, SIGTERM, SIGINT);
  systemd_watchdog watchdog(control.get_executor());
  signals.async_wait([&](boost::system::error_code, int signo) {
    spdlog::info("received {}; finishing in-flight requests (up to {} ms)",
                 signo == SIGTERM ? "SIGTERM" : "SIGINT", config_.http.shutdown_grace.count());
    notify_stopping();
    watchdog.stop();
    if (events) {
      events->stop();  // the streams see `stopping` within a second
    }
    auto deadline = std::chrono::steady_clock::now() + config_.http.shutdown_grace;
    for (auto& t : threads) {
      asio::co_spawn(t.io, t.drain(deadline), asio::detached);
    }
  });
  notify_ready();
  control.run();
  for (auto& t : threads) {
    t.thread.join();
  }
  spdlog::info("stopped");
  return 0;
}

namespace {

asio::awaitable<int> reseal(redis_client& redis, resource_store& store, const secret_box& old_box,
                            const secret_box& new_box) {
  asio::steady_timer wait(co_await asio::this_coro::executor);
  for (int i = 0; i < 500 && !redis.connected(); ++i) {
    wait.expires_after(std::chrono::milliseconds(10));
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  auto [ec, count] = co_await store.reseal_all(old_box);
  if (ec) {
    spdlog::error("re-encryption stopped: Redis: {} ({} secrets moved so far; run it again)",
                  ec.message(), count);
    co_return 1;
  }
  spdlog::info("re-encrypted {} secrets from key {} to key {}", count, old_box.key_id(),
               new_box.key_id());
  co_return 0;
}

}  // namespace

int rekey_secrets(const kiwi_config& config, const std::filesystem::path& old_key_file) {
  const secret_box old_box = secret_box::from_key_file(old_key_file);
  const secret_box new_box = secret_box::from_key_file(config.secrets_key_file, true);
  asio::io_context io(1);
  redis_client redis(io.get_executor(), config.redis, "rekey");
  resource_store store(redis, &new_box, std::chrono::seconds(10));
  redis.start();
  int status = 1;
  asio::co_spawn(io, reseal(redis, store, old_box, new_box),
                 [&](std::exception_ptr e, int code) {
                   status = code;
                   if (e) {
                     status = 1;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::error("re-encryption failed: {}", ex.what());
                     }
                   }
                   redis.stop();
                 });
  io.run();
  return status;
}

}  // namespace kiwi
