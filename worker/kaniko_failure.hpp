#pragma once
// Reads the Kaniko executor's last log lines to explain a failed build. No I/O.

#include <string>
#include <vector>

#include "common/build/image_build.hpp"

namespace kiwi {

// What Kaniko's last log lines say went wrong, in the words the buildah backend uses; `fallback`
// (e.g. "Kaniko exited with code 1") when they say nothing Kiwi knows.
image_build_error classify_kaniko_failure(const std::vector<std::string>& last_lines,
                                          std::string fallback);

}  // namespace kiwi
