#pragma once
// What happens to a build after a failure: retry later, fail at once, or dead-letter. Plain
// functions of their inputs (the jitter is an argument), so tests can step them by hand.

#include <chrono>

#include "common/base/failure_kind.hpp"
#include "common/config/config.hpp"

namespace kiwi {

struct retry_decision {
  enum class action { retry, fail, dead_letter } what = action::fail;
  std::chrono::milliseconds delay{0};  // for retry: how long until the next try
};

// Exponential backoff with "equal jitter": half of base * 2^(attempt-1) (capped at max) is
// fixed, the other half scaled by jitter in [0, 1). attempt counts from 1.
std::chrono::milliseconds backoff_delay(unsigned attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds max, double jitter);

// attempt: the try that just failed, counting from 1 (tries already used + 1).
// A permanent failure fails at once; a transient one retries until queue.max_attempts tries
// were made, then goes to the dead-letter stream.
retry_decision decide_after_failure(failure_kind kind, unsigned attempt, const queue_config& queue,
                                    double jitter);

}  // namespace kiwi
