// libFuzzer target: kiwictl's Server-Sent Events parser (cli/sse_parser). The stream is fed
// whole and again cut into chunks where the input says; both must give the same events, since
// a network read may end anywhere (inside a CRLF, a field name, a multi-byte character).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/expect.hpp"
#include "cli/sse_parser.hpp"

namespace {

bool same(const std::vector<kiwi::cli::sse_event>& a, const std::vector<kiwi::cli::sse_event>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].type != b[i].type || a[i].data != b[i].data) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  // The first bytes choose the cuts; the rest is the stream.
  std::vector<std::size_t> cuts;
  const auto count = input.ConsumeIntegralInRange<std::size_t>(0, 16);
  for (std::size_t i = 0; i < count; ++i) {
    cuts.push_back(input.ConsumeIntegralInRange<std::size_t>(0, 64));
  }
  const std::string stream = input.ConsumeRemainingBytesAsString();

  kiwi::cli::sse_parser whole;
  const auto expected = whole.feed(stream);

  kiwi::cli::sse_parser chunked;
  std::vector<kiwi::cli::sse_event> got;
  std::string_view rest = stream;
  for (std::size_t cut : cuts) {
    const auto part = rest.substr(0, cut);
    rest.remove_prefix(part.size());
    for (auto& e : chunked.feed(part)) {
      got.push_back(std::move(e));
    }
  }
  for (auto& e : chunked.feed(rest)) {
    got.push_back(std::move(e));
  }
  KIWI_FUZZ_EXPECT(same(expected, got));
  KIWI_FUZZ_EXPECT(whole.overflowed() == chunked.overflowed());
  for (const auto& e : expected) {
    KIWI_FUZZ_EXPECT(!e.type.empty());  // "message" when the stream names no type
  }
  return 0;
}
