#pragma once
// systemd readiness and watchdog (sd_notify); no-ops when not started by systemd.

#include <chrono>
#include <optional>

namespace kiwi {

void notify_ready();
void notify_stopping();
void notify_watchdog();
// Half of WatchdogSec when the watchdog is enabled for this process.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace kiwi
