#pragma once
// A fuzz target's check beyond "no crash": names what failed, then aborts (libFuzzer saves the
// input as a crash artifact).

#include <cstdio>
#include <cstdlib>

#define KIWI_FUZZ_EXPECT(condition)                                                    \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      std::fprintf(stderr, "fuzz expectation failed: %s (%s:%d)\n", #condition, __FILE__, \
                   __LINE__);                                                          \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)
