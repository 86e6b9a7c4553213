#include "common/security/crypto.hpp"

#include <doctest/doctest.h>

#include <string>

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

TEST_CASE("hex_decode and base64_decode take only their strict forms") {
  // Intent: decoders invert the encoders and refuse odd lengths, stray characters and bad padding.
  CHECK(kiwi::hex_decode("007f80FF") == std::string("\x00\x7f\x80\xff", 4));
  CHECK_FALSE(kiwi::hex_decode("abc"));
  CHECK_FALSE(kiwi::hex_decode("zz"));
  CHECK(kiwi::base64_decode("Zm9vYmFy") == std::string("foobar"));
  CHECK(kiwi::base64_decode("Zg==") == std::string("f"));
  CHECK(kiwi::base64_decode("") == std::string());
  CHECK_FALSE(kiwi::base64_decode("Zg"));
  CHECK_FALSE(kiwi::base64_decode("Z==g"));
  CHECK_FALSE(kiwi::base64_decode("Zm9v YmFy"));
  CHECK(kiwi::base64_decode(kiwi::base64_encode("any bytes \x01\xff")) ==
        std::string("any bytes \x01\xff"));
}
