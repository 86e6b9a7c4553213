#include "daemon/metrics.hpp"

#include <fmt/format.h>

namespace kiwi {
namespace {

constexpr std::array<std::string_view, 3> decision_names{"queued", "duplicate", "ignored"};

}  // namespace

void metrics::count_webhook(git_provider provider, int status) {
  auto& row = webhooks_[provider == git_provider::github ? 0 : 1];
  std::size_t i = 0;
  while (i < statuses.size() && statuses[i] != status) {
    ++i;
  }
  row[i].fetch_add(1, std::memory_order_relaxed);
}

void metrics::observe_enqueue(std::chrono::steady_clock::duration d) {
  double seconds = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < latency_buckets.size() && seconds > latency_buckets[i]) {
    ++i;
  }
  enqueue_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  enqueue_count_.fetch_add(1, std::memory_order_relaxed);
  enqueue_sum_ns_.fetch_add(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()),
      std::memory_order_relaxed);
}

void metrics::count_decision(std::string_view decision) {
  for (std::size_t i = 0; i < decision_names.size(); ++i) {
    if (decision_names[i] == decision) {
      decisions_[i].fetch_add(1, std::memory_order_relaxed);
    }
  }
}

std::string metrics::render(const std::vector<std::pair<std::string, std::string>>& job_outcomes,
                            std::size_t open_connections, bool redis_ready) const {
  std::string out;
  out += "# HELP kiwi_webhook_requests_total Webhook requests by provider and HTTP status.\n";
  out += "# TYPE kiwi_webhook_requests_total counter\n";
  for (std::size_t p = 0; p < webhooks_.size(); ++p) {
    for (std::size_t s = 0; s <= statuses.size(); ++s) {
      std::string status = s < statuses.size() ? std::to_string(statuses[s]) : "other";
      out += fmt::format("kiwi_webhook_requests_total{{provider=\"{}\",status=\"{}\"}} {}\n",
                         provider_name(p == 0 ? git_provider::github : git_provider::gitlab),
                         status, webhooks_[p][s].load());
    }
  }
  out += "# HELP kiwi_webhook_decisions_total Accepted webhooks by what Kiwi did with them.\n";
  out += "# TYPE kiwi_webhook_decisions_total counter\n";
  for (std::size_t i = 0; i < decision_names.size(); ++i) {
    out += fmt::format("kiwi_webhook_decisions_total{{decision=\"{}\"}} {}\n", decision_names[i],
                       decisions_[i].load());
  }
  out += "# HELP kiwi_enqueue_duration_seconds Time from a verified webhook to Redis' "
         "acknowledgement of its job.\n";
  out += "# TYPE kiwi_enqueue_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_buckets.size(); ++i) {
    cumulative += enqueue_buckets_[i].load();
    out += fmt::format("kiwi_enqueue_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                       latency_buckets[i], cumulative);
  }
  cumulative += enqueue_buckets_[latency_buckets.size()].load();
  out += fmt::format("kiwi_enqueue_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
  out += fmt::format("kiwi_enqueue_duration_seconds_sum {:.9f}\n",
                     static_cast<double>(enqueue_sum_ns_.load()) / 1e9);
  out += fmt::format("kiwi_enqueue_duration_seconds_count {}\n", enqueue_count_.load());
  out += "# HELP kiwi_jobs_total Jobs finished by all workers, by outcome.\n";
  out += "# TYPE kiwi_jobs_total counter\n";
  for (const auto& [outcome, count] : job_outcomes) {
    out += fmt::format("kiwi_jobs_total{{outcome=\"{}\"}} {}\n", outcome, count);
  }
  out += "# HELP kiwi_http_open_connections Open HTTP connections.\n";
  out += "# TYPE kiwi_http_open_connections gauge\n";
  out += fmt::format("kiwi_http_open_connections {}\n", open_connections);
  out += "# HELP kiwi_redis_up Whether Redis answered the readiness probe.\n";
  out += "# TYPE kiwi_redis_up gauge\n";
  out += fmt::format("kiwi_redis_up {}\n", redis_ready ? 1 : 0);
  return out;
}

}  // namespace kiwi
