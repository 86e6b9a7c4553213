// libFuzzer target: the Dockerfile reader (worker/dockerfile_outline), which maps buildah's step
// numbers back to lines. Any text: no crash, and the outline is consistent (lines increase, each
// instruction inside the text, stages and steps numbered as find_step looks them up).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/expect.hpp"
#include "worker/dockerfile_outline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto outline = kiwi::outline_dockerfile(text);
  int previous_line = 0;
  for (const auto& i : outline.instructions) {
    KIWI_FUZZ_EXPECT(i.line > previous_line);
    KIWI_FUZZ_EXPECT(static_cast<std::size_t>(i.line) <= size);  // a line holds at least one byte
    KIWI_FUZZ_EXPECT(!i.keyword.empty());
    KIWI_FUZZ_EXPECT(i.stage >= 0 && i.stage <= outline.stages);
    previous_line = i.line;
    if (i.stage > 0) {
      KIWI_FUZZ_EXPECT(outline.find_step(i.stage, i.step) == &i);
    }
  }
  return 0;
}
