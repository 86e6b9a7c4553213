// libFuzzer target: the Dockerfile wizard and locator (common/build/dockerfile), which read a
// repository's manifests (package.json, pyproject.toml, pom.xml, go.mod, ...) pushed by anyone
// with write access. The input is a repository: records "path\n" + contents + "\0". Any
// repository gives a Dockerfile or an error naming a field, never a crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz/expect.hpp"
#include "common/build/dockerfile.hpp"
#include "tests/unit/memory_view.hpp"

namespace {

// The input as a repository: records "path\n" + contents + "\0".
kiwi::test::memory_view unpack(std::string_view packed) {
  kiwi::test::memory_view repo;
  while (!packed.empty()) {
    const auto record = packed.substr(0, packed.find('\0'));
    packed.remove_prefix(std::min(packed.size(), record.size() + 1));
    const auto newline = record.find('\n');
    const auto path = record.substr(0, newline);
    const auto contents =
        newline == std::string_view::npos ? std::string_view() : record.substr(newline + 1);
    if (!path.empty()) {
      repo.add(std::string(path), std::string(contents));
    }
  }
  return repo;
}

template <typename Result>
void check(const Result& result) {
  if (const auto* error = std::get_if<kiwi::dockerfile_error>(&result)) {
    KIWI_FUZZ_EXPECT(!error->field.empty() && !error->message.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto repo = unpack(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)kiwi::find_dockerfiles(repo);
  check(kiwi::locate_root_dockerfile(repo));
  check(kiwi::resolve_dockerfile_path(repo, "Dockerfile", ""));
  const auto generated = kiwi::generate_dockerfile(repo, "", "");
  check(generated);
  if (const auto* out = std::get_if<kiwi::wizard_output>(&generated)) {
    // A detected language, given explicitly, is not contradicted by the same repository.
    check(kiwi::generate_dockerfile(repo, out->language, out->framework));
    KIWI_FUZZ_EXPECT(!out->dockerfile.empty());
  }
  return 0;
}
