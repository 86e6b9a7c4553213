// The retry policy: plain functions of their inputs (the jitter is an argument).
#include <doctest/doctest.h>

#include <chrono>

#include "common/queue/retry_policy.hpp"

TEST_CASE("backoff doubles from the base, is capped, and jitter spreads its upper half") {
  using ms = std::chrono::milliseconds;
  CHECK(kiwi::backoff_delay(1, ms(1000), ms(60000), 0.0) == ms(500));
  CHECK(kiwi::backoff_delay(1, ms(1000), ms(60000), 0.999) == ms(999));
  CHECK(kiwi::backoff_delay(2, ms(1000), ms(60000), 0.0) == ms(1000));
  CHECK(kiwi::backoff_delay(3, ms(1000), ms(60000), 0.5) == ms(3000));
  CHECK(kiwi::backoff_delay(20, ms(1000), ms(60000), 0.0) == ms(30000));
  CHECK(kiwi::backoff_delay(200, ms(1000), ms(60000), 0.999) <= ms(60000));
}

TEST_CASE("transient failures retry until max_attempts, then dead-letter; permanent ones fail") {
  kiwi::queue_config q;
  q.max_attempts = 3;
  using action = kiwi::retry_decision::action;
  auto d1 = kiwi::decide_after_failure(kiwi::failure_kind::transient, 1, q, 0.0);
  CHECK(d1.what == action::retry);
  CHECK(d1.delay == q.retry_base / 2);
  CHECK(kiwi::decide_after_failure(kiwi::failure_kind::transient, 2, q, 0.0).what ==
        action::retry);
  CHECK(kiwi::decide_after_failure(kiwi::failure_kind::transient, 3, q, 0.0).what ==
        action::dead_letter);
  CHECK(kiwi::decide_after_failure(kiwi::failure_kind::permanent, 1, q, 0.0).what ==
        action::fail);
  q.max_attempts = 1;
  CHECK(kiwi::decide_after_failure(kiwi::failure_kind::transient, 1, q, 0.0).what ==
        action::dead_letter);
}
