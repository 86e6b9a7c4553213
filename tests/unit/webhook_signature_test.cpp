#include "common/security/webhook_signature.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using kiwi::signature_status;
using namespace std::chrono_literals;

std::string read_fixture(const std::string& relative) {
  std::ifstream in(std::string(KIWI_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open fixture " << relative);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::chrono::system_clock::time_point at_unix(std::int64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

// Standard Webhooks reference vector (spec and its libraries' tests).
constexpr const char* sw_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* sw_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr const char* sw_timestamp = "1614265330";
constexpr const char* sw_body = "{\"test\": 2432232314}";
constexpr const char* sw_signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const auto sw_now = at_unix(1614265330);

// Signs like GitLab does, for a raw (non-whsec) secret.
std::string gitlab_sign(const std::string& secret, const std::string& id, const std::string& ts,
                        const std::string& body) {
  return "v1," + kiwi::base64_encode(kiwi::hmac_sha256(secret, id + "." + ts + "." + body));
}

}  // namespace

TEST_CASE("hmac_sha256 matches RFC 4231 test vectors") {
  // Intent: the OpenSSL EVP_MAC wiring computes HMAC-SHA256 correctly, incl. long and empty keys.
  CHECK(kiwi::to_hex(kiwi::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(kiwi::to_hex(kiwi::hmac_sha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(kiwi::to_hex(kiwi::hmac_sha256(std::string(131, '\xaa'),
                                       "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(kiwi::to_hex(kiwi::hmac_sha256("", "")) ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // Re-keying the per-thread context must not leak the previous key.
  CHECK(kiwi::to_hex(kiwi::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("to_hex, base64_encode and constant_time_equal behave as specified") {
  // Intent: encoders match RFC 4648 vectors; equality is exact and length-aware.
  CHECK(kiwi::to_hex(std::string("\x00\x7f\x80\xff", 4)) == "007f80ff");
  CHECK(kiwi::base64_encode("").empty());
  CHECK(kiwi::base64_encode("f") == "Zg==");
  CHECK(kiwi::base64_encode("fo") == "Zm8=");
  CHECK(kiwi::base64_encode("foo") == "Zm9v");
  CHECK(kiwi::base64_encode("foobar") == "Zm9vYmFy");
  CHECK(kiwi::constant_time_equal("abc", "abc"));
  CHECK(kiwi::constant_time_equal("", ""));
  CHECK_FALSE(kiwi::constant_time_equal("abc", "abd"));
  CHECK_FALSE(kiwi::constant_time_equal("abc", "abcd"));
}

TEST_CASE("github signature: documented example and a real fixture body verify") {
  // Intent: X-Hub-Signature-256 validates against GitHub's docs vector and over a fixture body.
  CHECK(kiwi::verify_github_signature(
            "It's a Secret to Everybody", "Hello, World!",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17") ==
        signature_status::valid);

  const std::string body = read_fixture("github/push_branch.json");
  const std::string secret = "kiwi-test-secret";
  const std::string header = "sha256=" + kiwi::to_hex(kiwi::hmac_sha256(secret, body));
  CHECK(kiwi::verify_github_signature(secret, body, header) == signature_status::valid);

  std::string upper = header;
  for (std::size_t i = 7; i < upper.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  CHECK(kiwi::verify_github_signature(secret, body, upper) == signature_status::valid);
}

TEST_CASE("github signature: tampered body or wrong secret is a mismatch") {
  // Intent: any change to body or secret fails verification.
  std::string body = read_fixture("github/push_branch.json");
  const std::string secret = "kiwi-test-secret";
  const std::string header = "sha256=" + kiwi::to_hex(kiwi::hmac_sha256(secret, body));
  CHECK(kiwi::verify_github_signature("other-secret", body, header) == signature_status::mismatch);
  body[body.find("master")] = 'M';
  CHECK(kiwi::verify_github_signature(secret, body, header) == signature_status::mismatch);
  CHECK(kiwi::verify_github_signature("", "", "sha256=" + kiwi::to_hex(kiwi::hmac_sha256("", ""))) ==
        signature_status::mismatch);
}

TEST_CASE("github signature: missing and malformed headers") {
  // Intent: absent header is missing; wrong prefix, length or non-hex is malformed.
  const std::string hex64(64, 'a');
  CHECK(kiwi::verify_github_signature("s", "b", "") == signature_status::missing);
  CHECK(kiwi::verify_github_signature("s", "b", hex64) == signature_status::malformed);
  CHECK(kiwi::verify_github_signature("s", "b", "sha1=" + std::string(40, 'a')) ==
        signature_status::malformed);
  CHECK(kiwi::verify_github_signature("s", "b", "sha256=" + std::string(63, 'a')) ==
        signature_status::malformed);
  CHECK(kiwi::verify_github_signature("s", "b", "sha256=" + std::string(65, 'a')) ==
        signature_status::malformed);
  CHECK(kiwi::verify_github_signature("s", "b", "sha256=" + std::string(63, 'a') + "g") ==
        signature_status::malformed);
  CHECK(kiwi::verify_github_signature("s", "b", "SHA256=" + hex64) == signature_status::malformed);
}

TEST_CASE("gitlab token: right, wrong and missing") {
  // Intent: X-Gitlab-Token is compared to the secret; empty secret never matches.
  CHECK(kiwi::verify_gitlab_token("tok-123", "tok-123") == signature_status::valid);
  CHECK(kiwi::verify_gitlab_token("tok-123", "tok-124") == signature_status::mismatch);
  CHECK(kiwi::verify_gitlab_token("tok-123", "tok-1234") == signature_status::mismatch);
  CHECK(kiwi::verify_gitlab_token("tok-123", "") == signature_status::missing);
  CHECK(kiwi::verify_gitlab_token("", "anything") == signature_status::mismatch);
}

TEST_CASE("gitlab signed webhook: Standard Webhooks reference vector verifies") {
  // Intent: whsec_ secrets are base64-decoded into the HMAC key, as the spec and GitLab require.
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      sw_now) == signature_status::valid);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, "{\"test\": 2432232315}",
                                      sw_signature, sw_now) == signature_status::mismatch);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, "msg_other", sw_timestamp, sw_body,
                                      sw_signature, sw_now) == signature_status::mismatch);
  CHECK(kiwi::verify_gitlab_signature("whsec_not base64!", sw_id, sw_timestamp, sw_body,
                                      sw_signature, sw_now) == signature_status::mismatch);
}

TEST_CASE("gitlab signed webhook: valid over a real fixture body with a raw secret") {
  // Intent: signature over "<id>.<timestamp>.<body>" of the GitLab push fixture verifies.
  const std::string body = read_fixture("gitlab/push_branch.json");
  const std::string id = "9f2d6c1e-5a4b-4f3e-8d7c-0b1a2c3d4e5f";
  const std::string ts = "1700000000";
  const std::string header = gitlab_sign("signing-secret", id, ts, body);
  CHECK(kiwi::verify_gitlab_signature("signing-secret", id, ts, body, header,
                                      at_unix(1700000000)) == signature_status::valid);
  CHECK(kiwi::verify_gitlab_signature("signing-secret", id, ts, body + " ", header,
                                      at_unix(1700000000)) == signature_status::mismatch);
  CHECK(kiwi::verify_gitlab_signature("other-secret", id, ts, body, header,
                                      at_unix(1700000000)) == signature_status::mismatch);
}

TEST_CASE("gitlab signed webhook: any one valid signature among several is enough") {
  // Intent: space-separated list (key rotation); second entry valid, unknown versions ignored.
  const std::string wrong = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body,
                                      wrong + " " + sw_signature, sw_now) ==
        signature_status::valid);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body,
                                      "v1a,c29tZXRoaW5n " + std::string(sw_signature), sw_now) ==
        signature_status::valid);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body, wrong + " " + wrong,
                                      sw_now) == signature_status::mismatch);
}

TEST_CASE("gitlab signed webhook: timestamps outside the 5 minute window are stale") {
  // Intent: 6 minutes old or 6 minutes ahead is rejected; 4 minutes either way is accepted.
  auto ts = at_unix(1614265330);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts + 6min) == signature_status::stale_timestamp);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts - 6min) == signature_status::stale_timestamp);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts + 4min) == signature_status::valid);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts - 4min) == signature_status::valid);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts + 6min, 10min) == signature_status::valid);
}

TEST_CASE("gitlab signed webhook: missing and malformed headers") {
  // Intent: absent id/timestamp/signature is missing; non-numeric timestamp or bad entries malformed.
  auto check = [](std::string_view ts, std::string_view sig) {
    return kiwi::verify_gitlab_signature(sw_secret, sw_id, ts, sw_body, sig, sw_now);
  };
  CHECK(check(sw_timestamp, "") == signature_status::missing);
  CHECK(check("", sw_signature) == signature_status::missing);
  CHECK(kiwi::verify_gitlab_signature(sw_secret, "", sw_timestamp, sw_body, sw_signature,
                                      sw_now) == signature_status::missing);
  CHECK(check("16142653x0", sw_signature) == signature_status::malformed);
  CHECK(check("-1614265330", sw_signature) == signature_status::malformed);
  CHECK(check("99999999999999999999999", sw_signature) == signature_status::malformed);
  CHECK(check(sw_timestamp, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") ==
        signature_status::malformed);
  CHECK(check(sw_timestamp, "v1,") == signature_status::malformed);
  CHECK(check(sw_timestamp, "v1a,c29tZXRoaW5n") == signature_status::malformed);
}

TEST_CASE("signature_status names are stable") {
  // Intent: to_string gives the log/metric label of each status.
  CHECK(kiwi::to_string(signature_status::valid) == "valid");
  CHECK(kiwi::to_string(signature_status::missing) == "missing");
  CHECK(kiwi::to_string(signature_status::malformed) == "malformed");
  CHECK(kiwi::to_string(signature_status::mismatch) == "mismatch");
  CHECK(kiwi::to_string(signature_status::stale_timestamp) == "stale_timestamp");
}
