// libFuzzer target: webhook authentication (common/security/webhook_signature): GitHub's
// X-Hub-Signature-256, GitLab's token and GitLab's signed webhooks, on any header, secret, id,
// timestamp and body. Beyond "no crash": the signature made with the secret is accepted, and the
// same with one byte changed is not.
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "fuzz/expect.hpp"
#include "common/security/crypto.hpp"
#include "daemon/webhook/github.hpp"
#include "daemon/webhook/gitlab.hpp"

using kiwi::webhook::signature_status;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const std::string secret = input.ConsumeRandomLengthString(64);
  const std::string header = input.ConsumeRandomLengthString(128);
  const std::string id = input.ConsumeRandomLengthString(32);
  const std::string timestamp = input.ConsumeRandomLengthString(24);
  const auto now = std::chrono::system_clock::time_point(
      std::chrono::seconds(input.ConsumeIntegral<std::int32_t>()));
  const std::string body = input.ConsumeRemainingBytesAsString();

  // Any input: an answer, no crash.
  (void)kiwi::webhook::github::verify_signature(secret, body, header);
  (void)kiwi::webhook::gitlab::verify_token(secret, header);
  (void)kiwi::webhook::gitlab::verify_signature(secret, id, timestamp, body, header, now);
  if (auto bytes = kiwi::hex_decode(header)) {
    KIWI_FUZZ_EXPECT(bytes->size() * 2 == header.size());
  }

  if (secret.empty()) {
    KIWI_FUZZ_EXPECT(kiwi::webhook::gitlab::verify_token(secret, header) != signature_status::valid);
    return 0;
  }
  // GitHub: the right signature passes; one changed hex digit fails.
  std::string github = "sha256=" + kiwi::to_hex(kiwi::hmac_sha256(secret, body));
  KIWI_FUZZ_EXPECT(kiwi::webhook::github::verify_signature(secret, body, github) == signature_status::valid);
  github.back() = github.back() == '0' ? '1' : '0';
  KIWI_FUZZ_EXPECT(kiwi::webhook::github::verify_signature(secret, body, github) == signature_status::mismatch);
  KIWI_FUZZ_EXPECT(kiwi::webhook::gitlab::verify_token(secret, secret) == signature_status::valid);

  // GitLab signed webhooks, raw and "whsec_" (base64) secrets, at the timestamp's own time.
  const std::string ts = std::to_string(input.ConsumeIntegral<std::uint32_t>());
  const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(std::stoll(ts)));
  const std::string message_id = id.empty() ? "msg" : id;
  const std::string whsec = "whsec_" + kiwi::base64_encode(secret);
  for (const auto& [given, key] : {std::pair{secret, secret}, std::pair{whsec, secret}}) {
    const std::string mac = kiwi::hmac_sha256(key, message_id + "." + ts + "." + body);
    const std::string signature = "v1," + kiwi::base64_encode(mac);
    if (given.starts_with("whsec_") && given != whsec) {
      continue;  // a raw secret that looks like a "whsec_" one is decoded as one
    }
    KIWI_FUZZ_EXPECT(kiwi::webhook::gitlab::verify_signature(given, message_id, ts, body, signature, at) ==
           signature_status::valid);
    KIWI_FUZZ_EXPECT(kiwi::webhook::gitlab::verify_signature(given, message_id, ts, body + "x", signature, at) ==
           signature_status::mismatch);
  }
  return 0;
}
