#pragma once
// A private redis-server for unit tests that step Redis scripts and stores.

#include <doctest/doctest.h>

#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "common/config/config.hpp"
#include "common/redis/redis_client.hpp"
#include "git_servers.hpp"

namespace kiwi::test {

// A private redis-server on a unix socket (AOF off: these tests step logic, not durability).
class redis_server {
 public:
  redis_server() {
    socket_ = dir_.path() / "redis.sock";
    pid_ = spawn({"redis-server", "--port", "0", "--unixsocket", socket_.string(),
                              "--save", "", "--appendonly", "no", "--dir", dir_.path().string()});
    for (int i = 0; i < 500 && !std::filesystem::exists(socket_); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    REQUIRE(std::filesystem::exists(socket_));
  }
  ~redis_server() { stop_process_group(pid_); }
  kiwi::redis_endpoint endpoint() const {
    kiwi::redis_endpoint e;
    e.unix_path = socket_.string();
    return e;
  }

 private:
  temp_dir dir_{"kiwi-redis"};
  std::filesystem::path socket_;
  pid_t pid_ = -1;
};

// A client on a private redis-server and a private io_context that runs coroutines to
// completion one at a time.
struct redis_fixture {
  redis_server server;
  boost::asio::io_context io{1};
  kiwi::redis_client redis{io.get_executor(), server.endpoint(), "test"};

  redis_fixture() {
    redis.start();
    for (int i = 0; i < 300 && !redis.connected(); ++i) {
      io.run_for(10ms);
    }
    REQUIRE(redis.connected());
  }
  ~redis_fixture() {
    redis.stop();
    io.run_for(50ms);
  }

  template <class T>
  T run(boost::asio::awaitable<T> a) {
    std::optional<T> out;
    std::exception_ptr error;
    boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
      error = e;
      out = std::move(v);
    });
    for (int i = 0; i < 500 && !out && !error; ++i) {
      io.run_for(10ms);
    }
    if (error) {
      std::rethrow_exception(error);
    }
    REQUIRE(out.has_value());
    return std::move(*out);
  }

  kiwi::redis_value command(std::vector<std::string> args) {
    auto r = run(redis.command(std::move(args), 2s));
    REQUIRE(!r.ec);
    return r.value;
  }
};

}  // namespace kiwi::test
