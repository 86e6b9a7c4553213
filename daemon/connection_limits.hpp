#pragma once
// Admission limits shared by every I/O thread, checked before a request is authenticated:
// open connections in total and per client address, event streams per client address, and the
// bytes of request bodies being buffered. Each admission is a lease that gives its share back
// when destroyed, so no exit path of a session can leak a count.

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace kiwi {

struct admission_settings {
  std::size_t max_connections = 2048;
  std::size_t max_connections_per_client = 512;
  std::size_t max_buffered_body_bytes = 64 * 1024 * 1024;
  std::size_t max_event_streams_per_client = 32;
};

class connection_limits;

// A share of a limit; releases it when destroyed. Empty (false) when the admission was refused.
class admission_lease {
 public:
  admission_lease() = default;
  admission_lease(admission_lease&& other) noexcept;
  admission_lease& operator=(admission_lease&& other) noexcept;
  admission_lease(const admission_lease&) = delete;
  admission_lease& operator=(const admission_lease&) = delete;
  ~admission_lease();

  explicit operator bool() const { return owner_ != nullptr; }
  void release();

 private:
  friend class connection_limits;
  enum class kind { connection, stream, body };
  admission_lease(connection_limits* owner, kind k, std::string client, std::size_t bytes)
      : owner_(owner), kind_(k), client_(std::move(client)), bytes_(bytes) {}

  connection_limits* owner_ = nullptr;
  kind kind_ = kind::connection;
  std::string client_;
  std::size_t bytes_ = 0;
};

class connection_limits {
 public:
  explicit connection_limits(admission_settings settings);

  enum class refusal { none, total, per_client, budget };
  // A connection from `client` (its address), or an empty lease and why not.
  admission_lease admit_connection(const std::string& client, refusal* why = nullptr);
  // An event stream from `client`: empty when it holds max_event_streams_per_client already.
  admission_lease admit_stream(const std::string& client);
  // `bytes` of request body about to be buffered: empty when the buffered total would pass
  // max_buffered_body_bytes.
  admission_lease reserve_body(std::size_t bytes);

  // Over three quarters of max_connections are open: responses close their connection rather
  // than keep it alive, so idle keep-alive connections do not hold slots others need.
  bool crowded() const {
    return open_.load(std::memory_order_relaxed) * 4 >= settings_.max_connections * 3;
  }
  const std::atomic<std::size_t>& open_connections() const { return open_; }
  const admission_settings& settings() const { return settings_; }

 private:
  friend class admission_lease;
  void give_back(admission_lease::kind k, const std::string& client, std::size_t bytes);

  const admission_settings settings_;
  std::atomic<std::size_t> open_{0};  // read without the lock by /metrics and crowded()
  std::mutex mutex_;                  // guards everything below
  std::unordered_map<std::string, std::size_t> connections_by_client_;
  std::unordered_map<std::string, std::size_t> streams_by_client_;
  std::size_t buffered_bytes_ = 0;
};

}  // namespace kiwi
