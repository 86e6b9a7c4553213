// libFuzzer target: GitHub and GitLab push payloads (daemon/push_event). Any body must give a
// push_event or an error message, never a crash; a parsed push holds what the parser promises.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "fuzz/expect.hpp"
#include "daemon/webhook/github.hpp"
#include "daemon/webhook/gitlab.hpp"

namespace {

void check(const kiwi::webhook::push_parse_result& result) {
  if (const auto* error = std::get_if<std::string>(&result)) {
    KIWI_FUZZ_EXPECT(!error->empty());  // an error says what is wrong
    return;
  }
  const auto& push = std::get<kiwi::webhook::push_event>(result);
  // A push names a branch or a tag, never both.
  KIWI_FUZZ_EXPECT(push.branch.empty() || push.tag.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check(kiwi::webhook::github::parse_push(body));
  check(kiwi::webhook::gitlab::parse_push(body));
  return 0;
}
