#include "common/security/secret_box.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/security/crypto.hpp"  // to_hex, hex_decode, sha256

namespace kiwi {
namespace {

constexpr std::string_view prefix = "kiwi-secret:v1:";
constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;

struct cipher_ctx_deleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

std::string read_or_create_private_file(const std::filesystem::path& file,
                                        const std::function<std::string()>& make) {
  auto read = [&]() -> std::optional<std::string> {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return std::nullopt;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    std::string s = buf.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
      s.pop_back();
    }
    return s;
  };
  if (auto existing = read(); existing && !existing->empty()) {
    return *existing;
  }
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  // Write a temp file, then link it into place: link fails if another process won the race,
  // and then its content is the one everybody uses.
  const std::string content = make();
  const auto tmp = file.string() + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw secret_key_error("cannot create " + file.string() + ": " + std::strerror(errno));
  }
  const std::string line = content + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::fsync(fd);
  ::close(fd);
  const int linked = written ? ::link(tmp.c_str(), file.c_str()) : -1;
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!written || (linked != 0 && link_errno != EEXIST)) {
    throw secret_key_error("cannot create " + file.string() + ": " + std::strerror(link_errno));
  }
  auto result = read();
  if (!result || result->empty()) {
    throw secret_key_error("cannot read " + file.string());
  }
  return *result;
}

secret_box::secret_box(std::string key) : key_(std::move(key)) {
  if (key_.size() != 32) {
    throw secret_key_error("the secrets key must be 32 bytes (64 hex digits)");
  }
  key_id_ = to_hex(sha256(key_)).substr(0, 8);
}

secret_box secret_box::from_key_file(const std::filesystem::path& file, bool create_if_missing) {
  if (create_if_missing) {
    read_or_create_private_file(file, [] { return generate_key_hex(); });
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw secret_key_error("cannot read the secrets key file " + file.string() +
                           " (create one with: openssl rand -hex 32 > " + file.string() +
                           " && chmod 600 " + file.string() + ")");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  auto key = text.size() == 64 ? hex_decode(text) : std::nullopt;
  if (!key) {
    throw secret_key_error("the secrets key file " + file.string() +
                           " must hold 64 hex digits (openssl rand -hex 32)");
  }
  return secret_box(std::move(*key));
}

std::string secret_box::generate_key_hex() {
  std::string key(32, '\0');
  if (RAND_bytes(bytes(key), 32) != 1) {
    throw secret_key_error("no randomness available for a new key");
  }
  return to_hex(key);
}

std::string secret_box::seal(std::string_view plaintext, std::string_view context) const {
  std::string blob(nonce_size + plaintext.size() + tag_size, '\0');
  if (RAND_bytes(bytes(blob), nonce_size) != 1) {
    throw std::runtime_error("no randomness available for a nonce");
  }
  cipher_ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  auto* out = bytes(blob) + nonce_size;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key_), bytes(blob)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(context),
                        static_cast<int>(context.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &len, bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_size,
                          out + plaintext.size()) != 1) {
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
  return std::string(prefix) + key_id_ + ":" + to_hex(blob);
}

std::optional<std::string> secret_box::open(std::string_view sealed,
                                            std::string_view context) const {
  if (key_id_of(sealed) != key_id_) {
    return std::nullopt;
  }
  auto blob = hex_decode(sealed.substr(prefix.size() + key_id_.size() + 1));
  if (!blob || blob->size() < nonce_size + tag_size) {
    return std::nullopt;
  }
  const std::size_t n = blob->size() - nonce_size - tag_size;
  std::string plain(n, '\0');
  std::string tag = blob->substr(nonce_size + n);
  cipher_ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key_), bytes(*blob)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(context),
                        static_cast<int>(context.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), bytes(plain), &len, bytes(*blob) + nonce_size,
                        static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_size, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), bytes(plain) + len, &len) != 1) {
    return std::nullopt;
  }
  return plain;
}

bool secret_box::is_sealed(std::string_view value) { return !key_id_of(value).empty(); }

std::string secret_box::key_id_of(std::string_view sealed) {
  if (!sealed.starts_with(prefix) || sealed.size() < prefix.size() + 9 ||
      sealed[prefix.size() + 8] != ':') {
    return {};
  }
  return std::string(sealed.substr(prefix.size(), 8));
}

}  // namespace kiwi
