#include "common/redis_client.hpp"

#include <array>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

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

redis_value copy_reply(const redisReply* r) {
  redis_value v;
  if (r == nullptr) {
    return v;
  }
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = redis_value::kind::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      v.type = redis_value::kind::string;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = redis_value::kind::status;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = redis_value::kind::error;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = redis_value::kind::array;
      v.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) {
        v.elements.push_back(copy_reply(r->element[i]));
      }
      break;
    default:
      break;
  }
  return v;
}

// RESP encoding of a command, built in one buffer and handed to hiredis as a formatted command
// (hiredis' own argv formatting goes through sdscatfmt, several reallocations per argument).
class resp_command {
 public:
  explicit resp_command(std::size_t argc, std::size_t payload_bytes) {
    // "*<argc>\r\n", then "$<len>\r\n<data>\r\n" per argument: at most 25 bytes besides
    // the data (a length has at most 20 digits).
    text_.reserve(25 + 25 * argc + payload_bytes);
    text_ += '*';
    text_ += std::to_string(argc);
    text_ += "\r\n";
  }
  void add(std::string_view arg) {
    text_ += '$';
    text_ += std::to_string(arg.size());
    text_ += "\r\n";
    text_ += arg;
    text_ += "\r\n";
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

std::size_t total_size(const std::vector<std::string>& args) {
  std::size_t n = 0;
  for (const auto& a : args) {
    n += a.size();
  }
  return n;
}

std::string format_command(const std::vector<std::string>& args) {
  resp_command cmd(args.size(), total_size(args));
  for (const auto& a : args) {
    cmd.add(a);
  }
  return cmd.text();
}

// EVALSHA sha1 / EVAL source (`head`), then the key count, the keys and the arguments, without
// first concatenating them into one argument vector.
std::string format_eval(std::string_view verb, std::string_view head,
                        const std::vector<std::string>& keys,
                        const std::vector<std::string>& args) {
  std::string key_count = std::to_string(keys.size());
  resp_command cmd(3 + keys.size() + args.size(),
                   head.size() + key_count.size() + total_size(keys) + total_size(args) + 8);
  cmd.add(verb);
  cmd.add(head);
  cmd.add(key_count);
  for (const auto& k : keys) {
    cmd.add(k);
  }
  for (const auto& a : args) {
    cmd.add(a);
  }
  return cmd.text();
}

// One command in flight: the hiredis callback fills `result` and wakes the waiting coroutine
// by cancelling `wake` (a timer used as an event).
struct pending_call {
  explicit pending_call(const asio::any_io_executor& ex) : wake(ex) {}
  asio::steady_timer wake;
  std::optional<redis_result> result;
};

}  // namespace

std::optional<std::string> redis_value::as_string() const {
  switch (type) {
    case kind::string:
    case kind::status: return str;
    case kind::integer: return std::to_string(integer);
    default: return std::nullopt;
  }
}

const boost::system::error_category& redis_category() {
  static const redis_error_category category;
  return category;
}

lua_script::lua_script(std::string src) : source(std::move(src)) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(source.data()), source.size(), digest.data());
  static constexpr char hex[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    sha1.push_back(hex[b >> 4]);
    sha1.push_back(hex[b & 0xf]);
  }
}

// Everything the hiredis hooks and callbacks touch. Owned jointly by the client and by pending
// asynchronous waits, so a hook never runs against a destroyed object.
struct redis_client::state : std::enable_shared_from_this<redis_client::state> {
  state(asio::any_io_executor ex, redis_endpoint ep, std::string n)
      : executor(std::move(ex)), endpoint(std::move(ep)), name(std::move(n)), descriptor(executor),
        lifecycle(executor) {}

  asio::any_io_executor executor;
  redis_endpoint endpoint;
  std::string name;
  redisAsyncContext* ctx = nullptr;          // owned by hiredis; freed on disconnect
  asio::posix::stream_descriptor descriptor;  // wraps ctx's fd; never closes it (hiredis does)
  bool reading = false;
  bool writing = false;   // hiredis has output pending (a flush is posted or awaited)
  bool flushing = false;  // inside flush(): hiredis asking to write again means EAGAIN
  bool ready = false;    // connected and SELECTed
  bool stopped = false;
  asio::steady_timer lifecycle;  // wakes the connection loop when the connection drops

  void wait_readable() {
    descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                          [self = shared_from_this()](boost::system::error_code ec) {
                            if (ec || !self->reading || self->ctx == nullptr) {
                              return;
                            }
                            redisAsyncHandleRead(self->ctx);
                            if (self->reading && self->ctx != nullptr) {
                              self->wait_readable();
                            }
                          });
  }

  void wait_writable() {
    descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                          [self = shared_from_this()](boost::system::error_code ec) {
                            if (!ec) {
                              self->flush();
                            }
                          });
  }

  // Writes what hiredis has buffered. hiredis re-adds write interest if the socket took only
  // part of it.
  void flush() {
    if (!writing || ctx == nullptr) {
      return;
    }
    writing = false;
    flushing = true;
    redisAsyncHandleWrite(ctx);  // may disconnect: touch nothing of ctx after this
    flushing = false;
  }

  static void add_read(void* p) {
    auto* s = static_cast<state*>(p);
    if (!s->reading) {
      s->reading = true;
      s->wait_readable();
    }
  }
  static void del_read(void* p) { static_cast<state*>(p)->reading = false; }
  // Once connected, output is written by a posted flush rather than after an epoll round trip
  // for writability: commands issued by the handlers of one event-loop pass go out in a single
  // write(), and the socket needs no epoll_ctl per command. Only a write that found the socket
  // buffer full (or a connect in progress) waits for writability.
  static void add_write(void* p) {
    auto* s = static_cast<state*>(p);
    if (s->writing) {
      return;
    }
    s->writing = true;
    if (s->flushing || s->ctx == nullptr || (s->ctx->c.flags & REDIS_CONNECTED) == 0) {
      s->wait_writable();
    } else {
      asio::post(s->executor, [self = s->shared_from_this()] { self->flush(); });
    }
  }
  static void del_write(void* p) { static_cast<state*>(p)->writing = false; }
  static void cleanup(void* p) {
    auto* s = static_cast<state*>(p);
    s->reading = false;
    s->writing = false;
    boost::system::error_code ignored;
    s->descriptor.cancel(ignored);
    if (s->descriptor.is_open()) {
      s->descriptor.release();
    }
    s->ctx = nullptr;
    s->ready = false;
    s->lifecycle.cancel();
  }
  static void on_disconnect(const redisAsyncContext* c, int status) {
    auto* s = static_cast<state*>(c->data);
    if (status != REDIS_OK && s != nullptr && !s->stopped) {
      spdlog::warn("redis[{}]: connection to {} lost: {}", s->name, s->endpoint.describe(),
                   c->errstr != nullptr ? c->errstr : "closed");
    }
  }

  static void on_reply(redisAsyncContext*, void* reply, void* privdata) {
    auto* call = static_cast<std::shared_ptr<pending_call>*>(privdata);
    redis_result r;
    if (reply == nullptr) {
      r.ec = redis_errc::connection_lost;
    } else {
      r.value = copy_reply(static_cast<redisReply*>(reply));
      if (r.value.is_error()) {
        r.ec = redis_errc::server_error;
      }
    }
    (*call)->result = std::move(r);
    (*call)->wake.cancel();
    delete call;
  }

  // Queues a RESP-formatted command on the connection; null when there is none.
  std::shared_ptr<pending_call> queue(const std::string& command) {
    if (ctx == nullptr) {
      return nullptr;
    }
    auto call = std::make_shared<pending_call>(executor);
    auto* holder = new std::shared_ptr<pending_call>(call);
    if (redisAsyncFormattedCommand(ctx, &state::on_reply, holder, command.data(),
                                   command.size()) != REDIS_OK) {
      delete holder;
      return nullptr;
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

  // Sends a RESP-formatted command without waiting for `ready` (used for the connection's own
  // SELECT).
  asio::awaitable<redis_result> send(const std::string& command,
                                     std::chrono::milliseconds timeout) {
    co_return co_await reply(queue(command), timeout);
  }

  void drop_connection() {
    if (ctx != nullptr) {
      redisAsyncContext* c = ctx;
      redisAsyncFree(c);  // calls every pending callback with a null reply, then cleanup()
    }
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    std::chrono::milliseconds backoff{100};
    asio::steady_timer pause(executor);
    while (!stopped) {
      ctx = endpoint.unix_path.empty()
                ? redisAsyncConnect(endpoint.host.c_str(), endpoint.port)
                : redisAsyncConnectUnix(endpoint.unix_path.c_str());
      bool ok = false;
      if (ctx == nullptr || ctx->err != 0) {
        spdlog::warn("redis[{}]: cannot connect to {}: {}", name, endpoint.describe(),
                     ctx != nullptr && ctx->errstr != nullptr ? ctx->errstr : "out of memory");
        if (ctx != nullptr) {
          redisAsyncFree(ctx);
          ctx = nullptr;
        }
      } else {
        ctx->data = this;
        boost::system::error_code ec;
        descriptor.assign(ctx->c.fd, ec);
        ctx->ev.data = this;
        ctx->ev.addRead = &state::add_read;
        ctx->ev.delRead = &state::del_read;
        ctx->ev.addWrite = &state::add_write;
        ctx->ev.delWrite = &state::del_write;
        ctx->ev.cleanup = &state::cleanup;
        redisAsyncSetDisconnectCallback(ctx, &state::on_disconnect);
        std::string select = format_command(redis_args("SELECT", std::to_string(endpoint.db)));
        auto r = co_await send(select, std::chrono::milliseconds(2000));
        if (r) {
          ok = true;
          ready = true;
          backoff = std::chrono::milliseconds(100);
          spdlog::info("redis[{}]: connected to {}", name, endpoint.describe());
          lifecycle.expires_at(asio::steady_timer::time_point::max());
          co_await lifecycle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          // Woken by cleanup() (connection gone) or stop().
        } else {
          spdlog::warn("redis[{}]: cannot connect to {}: {}", name, endpoint.describe(),
                       r.value.is_error() ? r.value.str : r.ec.message());
        }
        drop_connection();
      }
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
  if (!state_->ready || state_->ctx == nullptr) {
    return;
  }
  std::string formatted = format_command(args);
  redisAsyncFormattedCommand(state_->ctx, nullptr, nullptr, formatted.data(), formatted.size());
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
