#include "common/redis/redis_client.hpp"

#include <array>
#include <deque>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "common/redis/redis_connector.hpp"
#include "common/redis/redis_login.hpp"
#include "common/redis/redis_resp.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

class redis_error_category : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "kiwi.redis"; }
  std::string message(int ev) const override {
    switch (static_cast<redis_errc>(ev)) {
      case redis_errc::not_connected: return "Redis is not reachable (reconnecting)";
      case redis_errc::timeout: return "Redis did not answer in time";
      case redis_errc::connection_lost: return "the Redis connection was lost";
      case redis_errc::server_error: return "Redis answered with an error";
    }
    return "unknown Redis error";
  }
};

// One command in flight: read_replies fills `result` and wakes the waiting coroutine
// by cancelling `wake` (a timer used as an event).
struct pending_call {
  explicit pending_call(const asio::any_io_executor& ex) : wake(ex) {}
  asio::steady_timer wake;
  std::optional<redis_result> result;
};

}  // namespace

const boost::system::error_category& redis_category() {
  static const redis_error_category category;
  return category;
}

// Everything the connection's handlers touch. Owned jointly by the client and by pending
// asynchronous operations, so a handler never runs against a destroyed object. Kiwi does the
// I/O itself (plain or TLS, over TCP or a unix socket); hiredis only parses replies.
struct redis_client::state : std::enable_shared_from_this<redis_client::state> {
  state(asio::any_io_executor ex, redis_endpoint ep, std::string n)
      : executor(std::move(ex)), endpoint(std::move(ep)), name(std::move(n)),
        connector(executor, endpoint), lifecycle(executor) {}

  asio::any_io_executor executor;
  redis_endpoint endpoint;
  std::string name;
  redis_connector connector;               // opens connections (and closes one being opened)
  std::unique_ptr<redis_stream> stream;     // the current connection; null while down
  std::uint64_t generation = 0;             // bumped per connection: stale handlers ignore
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader{nullptr, &redisReaderFree};
  // Replies owed by Redis, in order; null for a command sent detached.
  std::deque<std::shared_ptr<pending_call>> owed;
  std::string output;   // commands not yet handed to the socket
  std::string writing;  // the bytes of the write in flight
  bool write_busy = false;  // a flush is posted or a write is in flight
  bool ready = false;       // connected, logged in and SELECTed
  bool stopped = false;
  asio::steady_timer lifecycle;  // wakes the connection loop when the connection drops

  bool up() const { return stream != nullptr; }

  template <class Op>
  void with_stream(Op&& op) {
    if (endpoint.tls) {
      op(*stream);
    } else {
      op(stream->next_layer());
    }
  }

  // Writes what is queued; commands queued by the handlers of one event-loop pass go out in a
  // single write.
  void flush(std::uint64_t gen) {
    if (gen != generation || !up()) {
      return;
    }
    if (output.empty()) {
      write_busy = false;
      return;
    }
    writing.clear();
    writing.swap(output);
    with_stream([&](auto& s) {
      asio::async_write(s, asio::buffer(writing),
                        [self = shared_from_this(), gen](boost::system::error_code ec,
                                                         std::size_t) {
                          if (gen != self->generation) {
                            return;
                          }
                          if (ec) {
                            self->lost(ec.message());
                            return;
                          }
                          self->flush(gen);
                        });
    });
  }

  // Queues a RESP-formatted command on the connection; null when there is none.
  std::shared_ptr<pending_call> queue(std::string_view command, bool detached = false) {
    if (!up()) {
      return nullptr;
    }
    auto call = detached ? nullptr : std::make_shared<pending_call>(executor);
    output += command;
    owed.push_back(call);
    if (!write_busy) {
      write_busy = true;
      asio::post(executor, [self = shared_from_this(), gen = generation] { self->flush(gen); });
    }
    return call;
  }

  static asio::awaitable<redis_result> reply(std::shared_ptr<pending_call> call,
                                             std::chrono::milliseconds timeout) {
    if (!call) {
      co_return redis_result{redis_errc::not_connected, {}};
    }
    if (!call->result) {
      call->wake.expires_after(timeout);
      boost::system::error_code ec;
      co_await call->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (call->result) {
      co_return std::move(*call->result);
    }
    co_return redis_result{redis_errc::timeout, {}};
  }

  // Sends a RESP-formatted command without waiting for `ready` (the connection's own AUTH and
  // SELECT).
  asio::awaitable<redis_result> send(const std::string& command,
                                     std::chrono::milliseconds timeout) {
    co_return co_await reply(queue(command), timeout);
  }

  static void settle(const std::shared_ptr<pending_call>& call, redis_result r) {
    if (call) {
      call->result = std::move(r);
      call->wake.cancel();
    }
  }

  // Reads replies until the connection ends.
  asio::awaitable<void> read_replies(std::uint64_t gen) {
    auto self = shared_from_this();
    std::array<char, 16384> buf{};
    while (gen == generation && up()) {
      boost::system::error_code ec;
      std::size_t n = 0;
      if (endpoint.tls) {
        n = co_await stream->async_read_some(asio::buffer(buf),
                                             asio::redirect_error(asio::use_awaitable, ec));
      } else {
        n = co_await stream->next_layer().async_read_some(
            asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      }
      if (gen != generation) {
        co_return;
      }
      if (ec) {
        lost(ec == asio::error::eof ? "closed by the server" : ec.message());
        co_return;
      }
      redisReaderFeed(reader.get(), buf.data(), n);
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
          lost(std::string("protocol error: ") + reader->errstr);
          co_return;
        }
        if (raw == nullptr) {
          break;
        }
        redis_result r;
        r.value = copy_reply(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        if (r.value.is_error()) {
          r.ec = redis_errc::server_error;
        }
        if (owed.empty()) {
          lost("a reply nobody asked for");
          co_return;
        }
        auto call = std::move(owed.front());
        owed.pop_front();
        settle(call, std::move(r));
      }
    }
  }

  void lost(const std::string& why) {
    if (!stopped && ready) {
      spdlog::warn("redis[{}]: connection to {} lost: {}", name, endpoint.describe(), why);
    }
    drop_connection();
  }

  // Closes the connection; every command in flight completes with connection_lost.
  void drop_connection() {
    if (!up()) {
      return;
    }
    ++generation;
    boost::system::error_code ignored;
    stream->next_layer().close(ignored);
    // The stream's pending operations hold references into it until they complete: keep it
    // alive until then.
    asio::post(executor, [old = std::shared_ptr<redis_stream>(std::move(stream))] {});
    ready = false;
    write_busy = false;
    output.clear();
    auto owed_now = std::move(owed);
    owed.clear();
    for (auto& call : owed_now) {
      settle(call, redis_result{redis_errc::connection_lost, {}});
    }
    lifecycle.cancel();
  }

  // Opens a connection within `deadline` and starts reading its replies; an error message,
  // or empty.
  asio::awaitable<std::string> open(std::chrono::milliseconds deadline) {
    auto opened = co_await connector.open(deadline);
    if (stopped && opened.error.empty()) {
      opened.error = "stopped";
    }
    if (!opened.error.empty()) {
      co_return opened.error;
    }
    stream = std::move(opened.stream);
    ++generation;
    reader.reset(redisReaderCreate());
    asio::co_spawn(executor, read_replies(generation), asio::detached);
    co_return std::string();
  }

  // AUTH (with the ACL user) and SELECT; empty when both succeeded, else what to tell.
  asio::awaitable<std::string> log_in() {
    const auto deadline = std::chrono::milliseconds(2000);
    if (!endpoint.password.empty()) {
      auto auth = endpoint.username.empty()
                      ? format_command(redis_args("AUTH", endpoint.password))
                      : format_command(redis_args("AUTH", endpoint.username, endpoint.password));
      auto r = co_await send(auth, deadline);
      if (!r) {
        co_return r.value.is_error() ? login_advice(endpoint, r.value.str) : r.ec.message();
      }
    }
    auto r = co_await send(format_command(redis_args("SELECT", std::to_string(endpoint.db))),
                           deadline);
    if (!r) {
      co_return r.value.is_error() ? login_advice(endpoint, r.value.str) : r.ec.message();
    }
    co_return std::string();
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    std::chrono::milliseconds backoff{100};
    asio::steady_timer pause(executor);
    while (!stopped) {
      bool ok = false;
      std::string error = co_await open(std::chrono::milliseconds(2000));
      if (error.empty() && !stopped) {
        error = co_await log_in();
        if (error.empty() && up()) {
          ok = true;
          ready = true;
          backoff = std::chrono::milliseconds(100);
          spdlog::info("redis[{}]: connected to {}", name, endpoint.describe());
          lifecycle.expires_at(asio::steady_timer::time_point::max());
          boost::system::error_code ec;
          co_await lifecycle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          // Woken by drop_connection() (connection gone) or stop().
        } else if (error.empty()) {
          error = "the connection was closed during login";
        }
      }
      if (!ok && !stopped) {
        const bool refused = error.starts_with("Redis ");  // login_advice: a config error
        if (refused) {
          spdlog::error("redis[{}]: cannot log in to {}: {}", name, endpoint.describe(), error);
        } else {
          spdlog::warn("redis[{}]: cannot connect to {}: {}", name, endpoint.describe(), error);
        }
      }
      drop_connection();
      if (stopped) {
        break;
      }
      pause.expires_after(ok ? std::chrono::milliseconds(50) : backoff);
      boost::system::error_code ec;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!ok) {
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      }
    }
  }
};

redis_client::redis_client(asio::any_io_executor executor, redis_endpoint endpoint,
                           std::string name)
    : state_(std::make_shared<state>(std::move(executor), std::move(endpoint), std::move(name))) {}

redis_client::~redis_client() { stop(); }

void redis_client::start() {
  asio::co_spawn(state_->executor, [s = state_]() { return s->run(); }, asio::detached);
}

void redis_client::stop() {
  if (state_->stopped) {
    return;
  }
  state_->stopped = true;
  state_->connector.stop();
  state_->drop_connection();
  state_->lifecycle.cancel();
}

bool redis_client::connected() const { return state_->ready; }

asio::awaitable<redis_result> redis_client::command(std::vector<std::string> args,
                                                    std::chrono::milliseconds timeout) {
  auto s = state_;
  if (!s->ready) {
    co_return redis_result{redis_errc::not_connected, {}};
  }
  std::string formatted = format_command(args);
  co_return co_await s->send(formatted, timeout);
}

void redis_client::send_detached(const std::vector<std::string>& args) {
  if (!state_->ready) {
    return;
  }
  state_->queue(format_command(args), true);
}

asio::awaitable<redis_result> redis_client::eval(const lua_script& script,
                                                 const std::vector<std::string>& keys,
                                                 const std::vector<std::string>& args,
                                                 std::chrono::milliseconds timeout) {
  auto s = state_;
  if (!s->ready) {
    co_return redis_result{redis_errc::not_connected, {}};
  }
  std::string formatted = format_eval("EVALSHA", script.sha1, keys, args);
  auto r = co_await s->send(formatted, timeout);
  if (r.ec == redis_errc::server_error && r.value.str.starts_with("NOSCRIPT")) {
    if (!s->ready) {
      co_return redis_result{redis_errc::not_connected, {}};
    }
    formatted = format_eval("EVAL", script.source, keys, args);
    r = co_await s->send(formatted, timeout);
  }
  co_return r;
}

asio::awaitable<std::pair<redis_result, redis_result>> redis_client::command_then_eval(
    std::vector<std::string> first, std::chrono::milliseconds first_timeout,
    const lua_script& script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  auto s = state_;
  if (!s->ready) {
    co_return std::pair{redis_result{redis_errc::not_connected, {}},
                        redis_result{redis_errc::not_connected, {}}};
  }
  auto first_call = s->queue(format_command(first));
  auto script_call = first_call ? s->queue(format_eval("EVALSHA", script.sha1, keys, args))
                                : nullptr;
  redis_result r1 = co_await state::reply(first_call, first_timeout);
  redis_result r2 = co_await state::reply(script_call, timeout);
  if (r2.ec == redis_errc::server_error && r2.value.str.starts_with("NOSCRIPT")) {
    r2 = co_await eval(script, keys, args, timeout);  // loads it
  }
  co_return std::pair{std::move(r1), std::move(r2)};
}

}  // namespace kiwi
