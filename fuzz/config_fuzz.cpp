// libFuzzer target: the configuration file and the API's resources (common/config). Any text
// must parse or be refused with config_error / field_error naming a key; any other exception
// (a JSON type error, an out-of-range access) escaping the parser is a crash here.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/expect.hpp"
#include "common/config/config.hpp"
#include "common/config/resources.hpp"

namespace {

// *_file keys are read relative to this empty folder. Inputs naming device or kernel files
// (/dev/zero never ends) are skipped: the config file is the operator's, and reading what it
// names is its meaning.
const std::filesystem::path& base_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / "kiwi-config-fuzz";
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

template <typename Parse>
void parse_resource(Parse parse, const nlohmann::json& j, const kiwi::parse_context& ctx) {
  try {
    (void)parse(j, ctx);
  } catch (const kiwi::field_error& e) {
    // A refusal names the field or says what is wrong.
    KIWI_FUZZ_EXPECT(!e.field.empty() || !std::string_view(e.what()).empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (std::string_view special : {"/dev", "/proc", "/sys"}) {
    if (text.find(special) != std::string_view::npos) {
      return 0;
    }
  }
  try {
    (void)kiwi::parse_config(text, base_dir());
  } catch (const kiwi::config_error&) {
  }

  // The API's path: no files, the webhook secret may be generated.
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    return 0;
  }
  const kiwi::parse_context api{std::nullopt, false};
  const kiwi::parse_context file{base_dir().string(), true};
  for (const auto* ctx : {&api, &file}) {
    parse_resource(kiwi::parse_service, j, *ctx);
    parse_resource(kiwi::parse_registry, j, *ctx);
    parse_resource(kiwi::parse_runtime, j, *ctx);
  }
  return 0;
}
