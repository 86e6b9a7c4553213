#pragma once
// Secrets at rest: AES-256-GCM (OpenSSL) under one key read from a file, so that tokens,
// registry passwords, SSH keys and webhook secrets stored in Redis are never plaintext there.
//
// Sealed form: "kiwi-secret:v1:<key id>:<hex of nonce(12) | ciphertext | tag(16)>". The key id
// (first 8 hex digits of SHA-256 of the key) names the key that sealed it, so a re-encryption
// under a new key can tell old from new. The context (e.g. "service/user-api/token") is bound
// as additional authenticated data: a sealed value copied to another field does not open.

#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kiwi {

struct secret_key_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads a private file, or creates it (mode 0600, atomically: concurrent starters agree on one
// content) from make() when it does not exist. Returns the content without trailing newlines.
// Throws secret_key_error when the file can be neither read nor created.
std::string read_or_create_private_file(const std::filesystem::path& file,
                                        const std::function<std::string()>& make);

class secret_box {
 public:
  // key: exactly 32 bytes.
  explicit secret_box(std::string key);

  // The file holds 64 hex digits (a trailing newline is fine), e.g. from
  // `openssl rand -hex 32`. Throws secret_key_error saying what is wrong (never the key).
  // create_if_missing: a new random key is written (0600) when the file does not exist.
  static secret_box from_key_file(const std::filesystem::path& file,
                                  bool create_if_missing = false);
  static std::string generate_key_hex();

  std::string seal(std::string_view plaintext, std::string_view context) const;
  // nullopt: not sealed by this key, tampered with, or sealed for another context.
  std::optional<std::string> open(std::string_view sealed, std::string_view context) const;

  static bool is_sealed(std::string_view value);
  // The key id a sealed value names (empty if it is not sealed).
  static std::string key_id_of(std::string_view sealed);
  const std::string& key_id() const { return key_id_; }

 private:
  std::string key_;
  std::string key_id_;
};

}  // namespace kiwi
