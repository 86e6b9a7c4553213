#pragma once
// kiwid's Prometheus metrics. Counters are process-wide atomics updated from every I/O thread;
// jobs by outcome across all workers come from Redis when /metrics is scraped.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/webhook/provider.hpp"

namespace kiwi {

class metrics {
 public:
  // HTTP statuses counted per provider; anything else is counted as "other".
  static constexpr std::array<int, 9> statuses{200, 202, 400, 401, 404, 405, 413, 503, 500};
  static constexpr std::array<double, 12> latency_buckets{
      0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

  void count_webhook(git_provider provider, int status);
  void observe_enqueue(std::chrono::steady_clock::duration d);
  void count_decision(std::string_view decision);  // queued, duplicate, ignored

  // Prometheus text exposition; job_outcomes are the workers' counters from Redis.
  std::string render(const std::vector<std::pair<std::string, std::string>>& job_outcomes,
                     std::size_t open_connections, bool redis_ready) const;

 private:
  std::array<std::array<std::atomic<std::uint64_t>, statuses.size() + 1>, 2> webhooks_{};
  std::array<std::atomic<std::uint64_t>, latency_buckets.size() + 1> enqueue_buckets_{};
  std::atomic<std::uint64_t> enqueue_count_{0};
  std::atomic<std::uint64_t> enqueue_sum_ns_{0};
  std::array<std::atomic<std::uint64_t>, 3> decisions_{};
};

}  // namespace kiwi
