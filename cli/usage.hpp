#pragma once
// The help texts: `kiwictl --help` and `kiwictl COMMAND --help` (kept in step with
// docs/kiwictl.md).

#include <string_view>

namespace kiwi::cli {

extern const std::string_view main_usage;
// The usage of one command ("service", "build", ...); main_usage for an unknown one.
std::string_view usage_of(std::string_view noun);

}  // namespace kiwi::cli
