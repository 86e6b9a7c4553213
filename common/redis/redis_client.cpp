#include "common/redis/redis_client.hpp"

#include <array>
#include <deque>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include "common/redis/redis_login.hpp"

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

namespace {

// An ssl::stream over a generic (TCP or unix) socket; without TLS only its next layer is used.
using socket_type = asio::generic::stream_protocol::socket;
using stream_type = asio::ssl::stream<socket_type>;

}  // namespace

// Everything the connection's handlers touch. Owned jointly by the client and by pending
// asynchronous operations, so a handler never runs against a destroyed object. Kiwi does the
// I/O itself (plain or TLS, over TCP or a unix socket); hiredis only parses replies.
struct redis_client::state : std::enable_shared_from_this<redis_client::state> {
  state(asio::any_io_executor ex, redis_endpoint ep, std::string n)
      : executor(std::move(ex)), endpoint(std::move(ep)), name(std::move(n)),
        tls(make_tls_context(endpoint)), lifecycle(executor) {}

  asio::any_io_executor executor;
  redis_endpoint endpoint;
  std::string name;
  std::unique_ptr<asio::ssl::context> tls;  // rediss:// only; shared by every connection
  std::unique_ptr<stream_type> stream;      // the current connection; null while down
  stream_type* connecting = nullptr;        // the connection being opened (closed by stop())
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
    asio::post(executor, [old = std::shared_ptr<stream_type>(std::move(stream))] {});
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

  // Opens the socket (and TLS) within `deadline`; an error message, or empty.
  asio::awaitable<std::string> open(std::chrono::milliseconds deadline) {
    auto s = std::make_unique<stream_type>(socket_type(executor),
                                           tls ? *tls : *plain_context());
    connecting = s.get();
    asio::steady_timer timer(executor);
    timer.expires_after(deadline);
    auto timed_out = std::make_shared<bool>(false);
    auto waiting = std::make_shared<bool>(true);  // false once this coroutine moved on
    timer.async_wait([timed_out, waiting, raw = s.get()](boost::system::error_code ec) {
      if (!ec && *waiting) {
        *timed_out = true;
        boost::system::error_code ignored;
        raw->next_layer().close(ignored);
      }
    });
    boost::system::error_code ec;
    if (!endpoint.unix_path.empty()) {
      co_await s->next_layer().async_connect(
          asio::local::stream_protocol::endpoint(endpoint.unix_path),
          asio::redirect_error(asio::use_awaitable, ec));
    } else {
      asio::ip::tcp::resolver resolver(executor);
      auto found = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
      ec = found.empty() && !ec ? asio::error::host_not_found : ec;
      for (const auto& e : found) {
        s->next_layer() = socket_type(executor);
        co_await s->next_layer().async_connect(e.endpoint(),
                                               asio::redirect_error(asio::use_awaitable, ec));
        if (!ec || *timed_out || stopped) {
          break;
        }
      }
      if (!ec) {
        boost::system::error_code ignored;
        s->next_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
      }
    }
    if (!ec && endpoint.tls) {
      const std::string& server = endpoint.tls_options.server_name.empty()
                                      ? endpoint.host
                                      : endpoint.tls_options.server_name;
      boost::system::error_code addr_ec;
      asio::ip::make_address(server, addr_ec);
      if (addr_ec) {  // SNI takes host names only
        SSL_set_tlsext_host_name(s->native_handle(), server.c_str());
      }
      s->set_verify_callback(asio::ssl::host_name_verification(server));
      co_await s->async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
    }
    *waiting = false;
    connecting = nullptr;
    timer.cancel();
    if (stopped) {
      co_return "stopped";
    }
    if (*timed_out) {
      co_return "no connection within " + std::to_string(deadline.count()) + " ms";
    }
    if (ec) {
      std::string what = ec.message();
      if (ec.category() == asio::error::get_ssl_category()) {
        what = "TLS: " + what + " (check redis_tls: ca_file, server_name, cert_file)";
      }
      co_return what;
    }
    stream = std::move(s);
    ++generation;
    reader.reset(redisReaderCreate());
    asio::co_spawn(executor, read_replies(generation), asio::detached);
    co_return std::string();
  }

  // An unused TLS context for plain connections (ssl::stream needs one to exist).
  static asio::ssl::context* plain_context() {
    static asio::ssl::context unused(asio::ssl::context::tls_client);
    return &unused;
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
  if (state_->connecting != nullptr) {
    boost::system::error_code ignored;
    state_->connecting->next_layer().close(ignored);
  }
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
