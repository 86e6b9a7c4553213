#pragma once
// Sends WATCHDOG=1 at half of systemd's WatchdogSec from an Asio executor, so a stuck event
// loop stops the pings and systemd restarts the process. Does nothing without a watchdog.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/base/service_notify.hpp"

namespace kiwi {

class systemd_watchdog {
 public:
  explicit systemd_watchdog(const boost::asio::any_io_executor& executor) : timer_(executor) {
    if (auto interval = watchdog_interval()) {
      interval_ = *interval;
      ping();
    }
  }
  void stop() { timer_.cancel(); }

 private:
  void ping() {
    notify_watchdog();
    timer_.expires_after(interval_);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        ping();
      }
    });
  }

  boost::asio::steady_timer timer_;
  std::chrono::microseconds interval_{};
};

}  // namespace kiwi
