#include "common/queue/retry_policy.hpp"

#include <algorithm>

namespace kiwi {

std::chrono::milliseconds backoff_delay(unsigned attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds max, double jitter) {
  // Doubling stops at the cap; the shift is bounded so it cannot overflow.
  const unsigned doublings = std::min(attempt == 0 ? 0u : attempt - 1, 30u);
  long long exp = base.count();
  for (unsigned i = 0; i < doublings && exp < max.count(); ++i) {
    exp *= 2;
  }
  exp = std::min(exp, static_cast<long long>(max.count()));
  jitter = std::clamp(jitter, 0.0, 0.999999);
  const long long half = exp / 2;
  return std::chrono::milliseconds(half + static_cast<long long>(jitter * (exp - half)));
}

retry_decision decide_after_failure(failure_kind kind, unsigned attempt, const queue_config& queue,
                                    double jitter) {
  retry_decision d;
  if (kind == failure_kind::permanent) {
    d.what = retry_decision::action::fail;
  } else if (attempt >= queue.max_attempts) {
    d.what = retry_decision::action::dead_letter;
  } else {
    d.what = retry_decision::action::retry;
    d.delay = backoff_delay(attempt, queue.retry_base, queue.retry_max, jitter);
  }
  return d;
}

}  // namespace kiwi
