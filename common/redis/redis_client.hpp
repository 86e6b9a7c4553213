#pragma once
// An asynchronous Redis connection over Boost.Asio: TCP, a unix socket, or TLS (rediss://, which
// hiredis 0.14 cannot do), with AUTH (an ACL user) and SELECT on every connection. Kiwi does the
// I/O; hiredis only parses replies (redisReader). One client belongs to one single-threaded
// executor. It reconnects by itself with backoff; commands issued while it is down fail at once.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "common/config/config.hpp"
#include "common/redis/redis_value.hpp"

namespace kiwi {

enum class redis_errc {
  not_connected = 1,  // the connection is down (reconnecting)
  timeout,            // no reply within the deadline
  connection_lost,    // the connection broke while the command was in flight
  server_error        // Redis answered with an error reply (see the reply's text)
};
const boost::system::error_category& redis_category();
inline boost::system::error_code make_error_code(redis_errc e) {
  return {static_cast<int>(e), redis_category()};
}

struct redis_result {
  boost::system::error_code ec;
  redis_value value;
  explicit operator bool() const { return !ec; }
};

// A Lua script sent by EVALSHA, with EVAL as the fallback after a Redis restart (NOSCRIPT).
struct lua_script {
  explicit lua_script(std::string source);
  std::string source;
  std::string sha1;
};

// Builds a command's arguments. (Also sidesteps a GCC 12 bug with braced lists of string
// literals inside coroutines.)
template <class... A>
std::vector<std::string> redis_args(A&&... a) {
  return {std::string(std::forward<A>(a))...};
}

class redis_client {
 public:
  redis_client(boost::asio::any_io_executor executor, redis_endpoint endpoint, std::string name);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // Starts connecting (and reconnecting after failures) in the background.
  void start();
  // Disconnects and stops reconnecting; in-flight commands complete with connection_lost.
  void stop();
  bool connected() const;

  boost::asio::awaitable<redis_result> command(std::vector<std::string> args,
                                               std::chrono::milliseconds timeout);
  // Queues the command on the connection now, ignoring its reply; dropped when disconnected.
  void send_detached(const std::vector<std::string>& args);

  boost::asio::awaitable<redis_result> eval(const lua_script& script,
                                            const std::vector<std::string>& keys,
                                            const std::vector<std::string>& args,
                                            std::chrono::milliseconds timeout);

  // Sends `first` and, right behind it on the connection, the script; Redis runs the script as
  // soon as `first` completes (a blocking command included) without waiting for this process
  // to read the first reply and answer: one round trip for both. first_timeout bounds the
  // first reply, timeout the script's after it.
  boost::asio::awaitable<std::pair<redis_result, redis_result>> command_then_eval(
      std::vector<std::string> first, std::chrono::milliseconds first_timeout,
      const lua_script& script, const std::vector<std::string>& keys,
      const std::vector<std::string>& args, std::chrono::milliseconds timeout);

 private:
  struct state;
  std::shared_ptr<state> state_;  // shared with in-flight I/O handlers and waits
};

}  // namespace kiwi

namespace boost::system {
template <>
struct is_error_code_enum<kiwi::redis_errc> : std::true_type {};
}  // namespace boost::system
