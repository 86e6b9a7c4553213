#pragma once
// One follower of the all-builds event stream per kiwid, fanned out in-process to every SSE
// stream: each stream registers what it follows (one build, or every build) and is woken when
// such an event is stored; it then reads the new entries from its own Redis stream key (so ids
// and Last-Event-ID replay stay exact) with a non-blocking XREAD on its thread's shared
// connection. Streams hold no Redis connection of their own.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/config/config.hpp"
#include "common/redis/redis_client.hpp"

namespace kiwi {

struct follower_list;

class event_hub {
 public:
  // One stream's registration; lives on the stream's executor (its I/O thread).
  struct follower {
    follower(const boost::asio::any_io_executor& executor, std::string build)
        : wake(executor), build_id(std::move(build)) {}
    boost::asio::steady_timer wake;  // cancelled (on its own executor) when an event arrives
    const std::string build_id;      // "" follows every build
    std::atomic<bool> pending{false};  // an event arrived since the follower last read
  };

  // Follows the all-builds stream with a Redis connection and a thread of its own.
  event_hub(const redis_endpoint& redis, std::chrono::milliseconds redis_timeout);
  ~event_hub();  // stops and joins the thread
  event_hub(const event_hub&) = delete;
  event_hub& operator=(const event_hub&) = delete;

  void start();
  void stop();  // any thread

  // Registers a follower until the returned handle is destroyed (any thread).
  class registration {
   public:
    registration(event_hub& hub, std::shared_ptr<follower> f);
    ~registration();
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    follower& get() { return *follower_; }

   private:
    std::shared_ptr<struct follower_list> list_;  // may outlive the hub at shutdown
    std::shared_ptr<follower> follower_;
  };

 private:
  boost::asio::awaitable<void> follow();
  // Wakes the streams following `build_id` and those following every build (or all streams).
  void notify(const std::string& build_id, bool everyone = false);

  boost::asio::io_context io_;
  redis_client redis_;
  std::chrono::milliseconds redis_timeout_;
  bool stopping_ = false;  // on io_
  std::shared_ptr<follower_list> followers_;
  std::thread thread_;
};

}  // namespace kiwi
