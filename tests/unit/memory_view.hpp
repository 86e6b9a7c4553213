#pragma once
// A repository held in memory, for the Dockerfile locator and wizard, which need no file system
// (tests/unit/dockerfile_test.cpp, fuzz/dockerfile_wizard_fuzz.cpp).

#include <cstddef>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/git/repo_view.hpp"

namespace kiwi::test {

class memory_view final : public kiwi::repo_view {
 public:
  memory_view() = default;
  memory_view(std::initializer_list<std::pair<const std::string, std::string>> files)
      : files_(files) {}
  void add(std::string path, std::string contents) {
    files_[std::move(path)] = std::move(contents);
  }
  std::vector<std::string> files() const override {
    std::vector<std::string> out;
    for (const auto& [path, _] : files_) {
      out.push_back(path);
    }
    return out;
  }
  std::optional<std::string> read(std::string_view path, std::size_t max_bytes) const override {
    auto it = files_.find(std::string(path));
    if (it == files_.end() || it->second.size() > max_bytes) {
      return std::nullopt;
    }
    return it->second;
  }

 private:
  std::map<std::string, std::string> files_;
};

}  // namespace kiwi::test
