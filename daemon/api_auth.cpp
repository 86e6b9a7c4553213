#include "daemon/api_auth.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "common/security/crypto.hpp"  // to_hex, sha256

namespace kiwi {

std::string_view to_string(api_role r) {
  switch (r) {
    case api_role::viewer: return "viewer";
    case api_role::developer: return "developer";
    case api_role::deployer: return "deployer";
    case api_role::admin: return "admin";
  }
  return "viewer";
}

std::optional<api_role> parse_api_role(std::string_view s) {
  if (s == "viewer") {
    return api_role::viewer;
  }
  if (s == "developer") {
    return api_role::developer;
  }
  if (s == "deployer") {
    return api_role::deployer;
  }
  if (s == "admin") {
    return api_role::admin;
  }
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

namespace {
// Attempts checked at once from one address before the ones in flight count as failures.
constexpr unsigned free_parallel_attempts = 8;
}  // namespace

auth_throttle::auth_throttle(std::chrono::seconds window, std::chrono::milliseconds cap)
    : window_(window), cap_(cap) {}

void auth_throttle::forget_old(clock::time_point now) {
  if (now - last_sweep_ < window_) {
    return;
  }
  last_sweep_ = now;
  std::erase_if(entries_, [&](const auto& kv) {
    return kv.second.in_flight == 0 && now - kv.second.last > window_ && now > kv.second.next_free;
  });
}

auth_throttle::attempt auth_throttle::begin(const std::string& address, clock::time_point now) {
  std::lock_guard lock(mutex_);
  forget_old(now);
  auto& e = entries_[address];
  if (now - e.last > window_) {
    e.failures = 0;  // quiet for a window: a fresh start
  }
  const unsigned level =
      e.failures + (e.in_flight > free_parallel_attempts ? e.in_flight - free_parallel_attempts : 0);
  std::chrono::milliseconds wait{0};
  if (level >= 2) {  // a typo or two costs nothing
    const unsigned doublings = std::min(level - 2, 10u);
    const auto step = std::min(cap_, std::chrono::milliseconds(250) * (1u << doublings));
    const auto start = std::max(now, e.next_free) + step;
    wait = std::chrono::ceil<std::chrono::milliseconds>(start - now);
    if (wait > cap_) {
      return attempt(this, address, wait, true);
    }
    e.next_free = start;
  }
  ++e.in_flight;
  return attempt(this, address, wait, false);
}

void auth_throttle::finish(const std::string& address, bool failed, clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(address);
  if (it == entries_.end()) {
    return;
  }
  auto& e = it->second;
  if (e.in_flight > 0) {
    --e.in_flight;
  }
  if (failed) {
    if (now - e.last > window_) {
      e.failures = 0;
    }
    ++e.failures;
    e.last = now;
  }
}

auth_throttle::attempt::attempt(auth_throttle* owner, std::string address,
                                std::chrono::milliseconds wait, bool refused)
    : owner_(refused ? nullptr : owner), address_(std::move(address)), wait_(wait),
      refused_(refused) {}

auth_throttle::attempt::attempt(attempt&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      address_(std::move(other.address_)),
      wait_(other.wait_),
      refused_(other.refused_) {}

auth_throttle::attempt::~attempt() {
  if (owner_ != nullptr) {
    owner_->finish(address_, false, clock::now());
  }
}

void auth_throttle::attempt::failed(clock::time_point now) {
  if (auto* owner = std::exchange(owner_, nullptr)) {
    owner->finish(address_, true, now);
  }
}

std::chrono::seconds auth_throttle::attempt::retry_after() const {
  return std::chrono::ceil<std::chrono::seconds>(wait_);
}

}  // namespace kiwi
