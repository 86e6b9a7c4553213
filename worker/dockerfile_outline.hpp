#pragma once
// Where each instruction of a Dockerfile starts, so failures buildah reports by step number
// ("[2/3] STEP 4/5: ...") or by message ("ENV must have two arguments") can name a line.
// buildah 1.28 prints no line numbers itself. Follows Docker's parser for what matters here:
// parser directives (escape), comments, blank lines, continuation lines; heredocs are not
// parsed (buildah 1.28 does not support them either).

#include <string>
#include <string_view>
#include <vector>

namespace kiwi {

struct dockerfile_instruction {
  int line = 0;           // 1-based line where the instruction starts
  std::string keyword;    // upper-case: FROM, RUN, COPY, ...
  std::string arguments;  // the rest, continuation lines joined, trimmed
  int stage = 0;          // 1-based build stage; 0 for ARGs before the first FROM
  int step = 0;           // 1-based position within its stage (its FROM is step 1)
};

struct dockerfile_outline {
  std::vector<dockerfile_instruction> instructions;
  int escape_directive_line = 0;  // line of a "# escape=" directive, 0 if none
  int stages = 0;

  // The instruction buildah numbers "[stage/..] STEP step/..". stage 0 means buildah printed
  // no stage prefix, which it does when there is a single stage.
  const dockerfile_instruction* find_step(int stage, int step) const;
};

dockerfile_outline outline_dockerfile(std::string_view text);

}  // namespace kiwi
