#include "common/security/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <memory>
#include <stdexcept>

#include "common/base/text.hpp"

namespace kiwi {
namespace {

constexpr std::size_t sha256_size = 32;

struct mac_ctx_deleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using mac_ctx_ptr = std::unique_ptr<EVP_MAC_CTX, mac_ctx_deleter>;

// One HMAC-SHA256 context per thread, digest set once; each call only re-keys it.
mac_ctx_ptr new_hmac_sha256_ctx() {
  // Fetched once, shared by all threads, never freed.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (mac == nullptr) {
    return nullptr;
  }
  mac_ctx_ptr ctx(EVP_MAC_CTX_new(mac));
  if (!ctx) {
    return nullptr;
  }
  char digest[] = "SHA256";
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(ctx.get(), params.data()) != 1) {
    return nullptr;
  }
  return ctx;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string hmac_sha256_parts(std::string_view key,
                              std::initializer_list<std::string_view> parts) {
  thread_local mac_ctx_ptr ctx = new_hmac_sha256_ctx();
  // A non-null pointer even for an empty key: a null key means "reuse the previous key".
  static const unsigned char empty_key = 0;
  const unsigned char* key_bytes = key.empty() ? &empty_key : bytes(key);
  if (!ctx || EVP_MAC_init(ctx.get(), key_bytes, key.size(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL HMAC-SHA256 initialisation failed");
  }
  for (std::string_view part : parts) {
    if (EVP_MAC_update(ctx.get(), bytes(part), part.size()) != 1) {
      throw std::runtime_error("OpenSSL HMAC-SHA256 update failed");
    }
  }
  std::string out(sha256_size, '\0');
  std::size_t len = 0;
  if (EVP_MAC_final(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, out.size()) !=
          1 ||
      len != sha256_size) {
    throw std::runtime_error("OpenSSL HMAC-SHA256 finalisation failed");
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  return hmac_sha256_parts(key, {data});
}

std::string sha256(std::string_view data) {
  std::string out(sha256_size, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                 EVP_sha256(), nullptr) != 1 ||
      len != sha256_size) {
    throw std::runtime_error("OpenSSL SHA-256 failed");
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = digits[b >> 4];
    out[2 * i + 1] = digits[b & 0x0f];
  }
  return out;
}

std::optional<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_digit_value(hex[2 * i]);
    int lo = hex_digit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  // EVP_EncodeBlock takes an int length: encode in chunks of whole 3-byte groups, in place.
  constexpr std::size_t chunk = 3 * (1U << 20);
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');  // +1: EVP_EncodeBlock writes a NUL
  std::size_t written = 0;
  for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
    std::string_view piece = bytes.substr(pos, chunk);
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                            reinterpret_cast<const unsigned char*>(piece.data()),
                            static_cast<int>(piece.size()));
    written += static_cast<std::size_t>(n);
  }
  out.resize(written);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > 0x3fffffff) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    bool padding = c == '=' && i + 2 >= text.size() &&
                   (i + 1 == text.size() || text[i + 1] == '=');
    if (!alnum && c != '+' && c != '/' && !padding) {
      return std::nullopt;
    }
  }
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes(text),
                          static_cast<int>(text.size()));
  if (n < 0) {
    return std::nullopt;
  }
  // EVP_DecodeBlock counts the bytes that padding stands for; drop them.
  std::size_t pad = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) {
    ++pad;
  }
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace kiwi
