#pragma once
// Hashing and encoding primitives over OpenSSL: HMAC-SHA256, SHA-256, hex and base64, and a
// constant-time comparison for secret material. Webhook verification, the secret box, API
// token hashes, redaction, ssh host keys and registry credentials all build on these.

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace kiwi {

// Raw 32-byte HMAC-SHA256 of data under key.
std::string hmac_sha256(std::string_view key, std::string_view data);
// HMAC-SHA256 over the concatenation of parts, without building the concatenation.
std::string hmac_sha256_parts(std::string_view key, std::initializer_list<std::string_view> parts);
// Raw 32-byte SHA-256 of data.
std::string sha256(std::string_view data);

std::string to_hex(std::string_view bytes);
// Bytes of an even-length hex string (either case); nullopt if it is not one.
std::optional<std::string> hex_decode(std::string_view hex);
std::string base64_encode(std::string_view bytes);
// Strict standard base64 (padded, no whitespace); nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

// Constant-time equality (length may leak; content does not).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace kiwi
