#include "daemon/event_hub.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/queue/build_event.hpp"
#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

constexpr std::chrono::milliseconds block{1000};  // bounds how late a shutdown is seen

}  // namespace

struct follower_list {
  std::mutex mutex;  // guards all
  std::vector<std::shared_ptr<event_hub::follower>> all;
};

event_hub::event_hub(const redis_endpoint& redis, std::chrono::milliseconds redis_timeout)
    : io_(1),
      redis_(io_.get_executor(), redis, "sse-hub"),
      redis_timeout_(redis_timeout),
      followers_(std::make_shared<follower_list>()) {}

event_hub::~event_hub() {
  stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void event_hub::start() {
  redis_.start();
  asio::co_spawn(io_, follow(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

void event_hub::stop() {
  asio::post(io_, [this] {
    stopping_ = true;
    redis_.stop();
    io_.stop();
  });
}

event_hub::registration::registration(event_hub& hub, std::shared_ptr<follower> f)
    : list_(hub.followers_), follower_(std::move(f)) {
  std::lock_guard lock(list_->mutex);
  list_->all.push_back(follower_);
}

event_hub::registration::~registration() {
  std::lock_guard lock(list_->mutex);
  std::erase(list_->all, follower_);
}

void event_hub::notify(const std::string& build_id, bool everyone) {
  std::lock_guard lock(followers_->mutex);
  for (const auto& f : followers_->all) {
    if (!everyone && !f->build_id.empty() && f->build_id != build_id) {
      continue;
    }
    if (!f->pending.exchange(true)) {
      asio::post(f->wake.get_executor(), [f] { f->wake.cancel(); });
    }
  }
}

asio::awaitable<void> event_hub::follow() {
  asio::steady_timer pause(io_);
  std::string last;  // the last entry seen; empty until the stream's end is known
  while (!stopping_) {
    if (last.empty()) {
      auto tail = co_await redis_.command(
          redis_args("XREVRANGE", keys::all_events(), "+", "-", "COUNT", "1"), redis_timeout_);
      if (!tail.ec) {
        last = tail.value.elements.empty() || tail.value.elements[0].elements.empty()
                   ? "0-0"
                   : tail.value.elements[0].elements[0].str;
        // Streams registered while the hub was not following yet may have missed a signal.
        notify({}, true);
        continue;
      }
    } else {
      auto r = co_await redis_.command(
          redis_args("XREAD", "COUNT", "500", "BLOCK", std::to_string(block.count()), "STREAMS",
                     keys::all_events(), last),
          block + redis_timeout_);
      if (r.ec) {
        last.clear();  // once back, start from the end again and wake every stream to catch up
      } else {
        for_each_read_entry(r.value, [&](const std::string& id, const std::string& event) {
          last = id;
          if (!event.empty()) {
            notify(std::string(stored_event_field(event, "build_id")));
          }
        });
        continue;
      }
    }
    // Redis is away (the client reconnects by itself): the streams catch up on their own
    // schedule; try again after a breath.
    pause.expires_after(std::chrono::milliseconds(200));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace kiwi
