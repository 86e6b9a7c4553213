#include "common/api_auth.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "common/webhook_signature.hpp"  // to_hex, sha256

namespace kiwi {

std::string_view to_string(api_role r) {
  switch (r) {
    case api_role::viewer: return "viewer";
    case api_role::developer: return "developer";
    case api_role::admin: return "admin";
  }
  return "viewer";
}

std::optional<api_role> parse_api_role(std::string_view s) {
  if (s == "viewer") return api_role::viewer;
  if (s == "developer") return api_role::developer;
  if (s == "admin") return api_role::admin;
  return std::nullopt;
}

std::string generate_api_token() {
  std::string raw(20, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), 20) != 1) {
    throw std::runtime_error("no randomness available for a token");
  }
  return "kiwi_" + to_hex(raw);
}

std::string api_token_hash(std::string_view token) { return to_hex(sha256(token)); }

auth_throttle::auth_throttle(std::chrono::seconds window, std::chrono::milliseconds cap)
    : window_(window), cap_(cap) {}

void auth_throttle::forget_old(clock::time_point now) {
  if (now - last_sweep_ < window_) {
    return;
  }
  last_sweep_ = now;
  std::erase_if(entries_, [&](const auto& kv) { return now - kv.second.last > window_; });
}

std::chrono::milliseconds auth_throttle::delay_for(const std::string& address,
                                                   clock::time_point now) {
  forget_old(now);
  auto it = entries_.find(address);
  if (it == entries_.end() || now - it->second.last > window_ || it->second.failures < 2) {
    return std::chrono::milliseconds(0);  // a typo or two costs nothing
  }
  // Two failures already: the third attempt waits 250 ms, each further one twice as long.
  const unsigned doublings = std::min(it->second.failures - 2, 10u);
  return std::min(cap_, std::chrono::milliseconds(250) * (1u << doublings));
}

void auth_throttle::failed(const std::string& address, clock::time_point now) {
  auto& e = entries_[address];
  if (now - e.last > window_) {
    e.failures = 0;
  }
  ++e.failures;
  e.last = now;
}

void auth_throttle::succeeded(const std::string& address) { entries_.erase(address); }

}  // namespace kiwi
