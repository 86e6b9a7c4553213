#pragma once
// API access: bearer tokens with roles, stored only as SHA-256 hashes (tokens are 160-bit
// random strings, so a plain hash is enough: nothing to brute-force), and a throttle that slows
// down repeated bad tokens from one address.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kiwi {

// viewer: read; developer: read, trigger and cancel builds, test connections, deploy to
// environments other than production; deployer: also production deploys and rollbacks (a role
// the admin grants, docs/deploy.md#who-may-deploy); admin: everything.
enum class api_role { viewer = 0, developer = 1, deployer = 2, admin = 3 };
std::string_view to_string(api_role r);
std::optional<api_role> parse_api_role(std::string_view s);
inline bool role_allows(api_role have, api_role need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}

// "kiwi_" + 40 hex digits from the system's random source.
std::string generate_api_token();
// Lowercase hex SHA-256: what the token store keeps.
std::string api_token_hash(std::string_view token);

// Bad tokens per client address, shared by every I/O thread. Each token check is an attempt:
// from the third failure within the window on (counting the attempts still being checked
// beyond the first 8 at once), each attempt from that address is queued behind the previous
// one by a step of 250 ms, doubling, capped; an attempt that would wait longer than the cap is
// refused (429) without its token being checked. So parallel connections do not multiply the
// guesses, and a good token does not clear the record: it only stops counting once quiet for a
// window. Addresses quiet for a window are forgotten, so the map stays small.
class auth_throttle {
 public:
  using clock = std::chrono::steady_clock;
  explicit auth_throttle(std::chrono::seconds window = std::chrono::seconds(60),
                         std::chrono::milliseconds cap = std::chrono::milliseconds(4000));

  // One request's token check, in flight until destroyed.
  class attempt {
   public:
    attempt(attempt&& other) noexcept;
    attempt& operator=(attempt&&) = delete;
    attempt(const attempt&) = delete;
    ~attempt();
    std::chrono::milliseconds wait() const { return wait_; }  // hold the request this long
    bool refused() const { return refused_; }  // answer 429 with retry_after(), unchecked
    std::chrono::seconds retry_after() const;
    void failed(clock::time_point now);  // the token was missing or bad

   private:
    friend class auth_throttle;
    attempt(auth_throttle* owner, std::string address, std::chrono::milliseconds wait,
            bool refused);
    auth_throttle* owner_;
    std::string address_;
    std::chrono::milliseconds wait_;
    bool refused_;
  };

  attempt begin(const std::string& address, clock::time_point now);

 private:
  struct entry {
    unsigned failures = 0;
    unsigned in_flight = 0;
    clock::time_point last;       // the last failure
    clock::time_point next_free;  // when the next queued attempt may be checked
  };
  void forget_old(clock::time_point now);
  void finish(const std::string& address, bool failed, clock::time_point now);

  std::chrono::seconds window_;
  std::chrono::milliseconds cap_;
  std::mutex mutex_;  // guards entries_ and last_sweep_
  std::unordered_map<std::string, entry> entries_;
  clock::time_point last_sweep_{};
};

}  // namespace kiwi
