#pragma once
// API access: bearer tokens with roles, stored only as SHA-256 hashes (tokens are 160-bit
// random strings, so a plain hash is enough: nothing to brute-force), and a throttle that slows
// down repeated bad tokens from one address.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kiwi {

// viewer: read; developer: read, trigger and cancel builds, test connections; admin: everything.
enum class api_role { viewer = 0, developer = 1, admin = 2 };
std::string_view to_string(api_role r);
std::optional<api_role> parse_api_role(std::string_view s);
inline bool role_allows(api_role have, api_role need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}

// "kiwi_" + 40 hex digits from the system's random source.
std::string generate_api_token();
// Lowercase hex SHA-256: what the token store keeps.
std::string api_token_hash(std::string_view token);

// Failures per client address. Each failure within the window makes the next answer to that
// address wait longer (250 ms doubling, capped); a success clears it. Addresses that stayed
// quiet for a window are forgotten, so the map stays small.
class auth_throttle {
 public:
  using clock = std::chrono::steady_clock;
  explicit auth_throttle(std::chrono::seconds window = std::chrono::seconds(60),
                         std::chrono::milliseconds cap = std::chrono::milliseconds(4000));

  // How long to hold a request from this address before answering it.
  std::chrono::milliseconds delay_for(const std::string& address, clock::time_point now);
  void failed(const std::string& address, clock::time_point now);
  void succeeded(const std::string& address);

 private:
  struct entry {
    unsigned failures = 0;
    clock::time_point last;
  };
  void forget_old(clock::time_point now);

  std::chrono::seconds window_;
  std::chrono::milliseconds cap_;
  std::unordered_map<std::string, entry> entries_;
  clock::time_point last_sweep_{};
};

}  // namespace kiwi
