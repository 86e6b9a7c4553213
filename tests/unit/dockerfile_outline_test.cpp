// The Dockerfile reader on inputs the fuzz target (fuzz/dockerfile_outline_fuzz.cpp) found.
#include <doctest/doctest.h>

#include "worker/dockerfile_outline.hpp"

// An escape character alone on the last line continues into nothing: no instruction, so the
// steps buildah counts stay the steps the outline counts.
TEST_CASE("dockerfile outline: a continuation into the end of the file is no instruction") {
  const auto outline = kiwi::outline_dockerfile("FROM base\nRUN echo a\n\\\n\n# done\n");
  REQUIRE(outline.instructions.size() == 2);
  CHECK(outline.instructions[1].keyword == "RUN");
  CHECK(outline.find_step(0, 3) == nullptr);
  CHECK(kiwi::outline_dockerfile("\\").instructions.empty());
}
