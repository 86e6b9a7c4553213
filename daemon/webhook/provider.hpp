#pragma once
// The git servers kiwid takes webhooks from, named as in their URLs (/hooks/<name>/<service>),
// logs, metrics and build records.

#include <string_view>

namespace kiwi {

enum class git_provider { github, gitlab };

constexpr std::string_view provider_name(git_provider p) {
  return p == git_provider::github ? "github" : "gitlab";
}

}  // namespace kiwi
