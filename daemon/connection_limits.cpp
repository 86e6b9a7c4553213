#include "daemon/connection_limits.hpp"

#include <utility>

namespace kiwi {

admission_lease::admission_lease(admission_lease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      kind_(other.kind_),
      client_(std::move(other.client_)),
      bytes_(other.bytes_) {}

admission_lease& admission_lease::operator=(admission_lease&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    kind_ = other.kind_;
    client_ = std::move(other.client_);
    bytes_ = other.bytes_;
  }
  return *this;
}

admission_lease::~admission_lease() { release(); }

void admission_lease::release() {
  if (auto* owner = std::exchange(owner_, nullptr)) {
    owner->give_back(kind_, client_, bytes_);
  }
}

connection_limits::connection_limits(admission_settings settings) : settings_(settings) {}

admission_lease connection_limits::admit_connection(const std::string& client, refusal* why) {
  std::lock_guard lock(mutex_);
  auto set_why = [&](refusal r) {
    if (why != nullptr) {
      *why = r;
    }
  };
  if (open_.load(std::memory_order_relaxed) >= settings_.max_connections) {
    set_why(refusal::total);
    return {};
  }
  auto& held = connections_by_client_[client];
  if (held >= settings_.max_connections_per_client) {
    set_why(refusal::per_client);
    return {};
  }
  ++held;
  open_.fetch_add(1, std::memory_order_relaxed);
  set_why(refusal::none);
  return admission_lease(this, admission_lease::kind::connection, client, 0);
}

admission_lease connection_limits::admit_stream(const std::string& client) {
  std::lock_guard lock(mutex_);
  auto& held = streams_by_client_[client];
  if (held >= settings_.max_event_streams_per_client) {
    if (held == 0) {
      streams_by_client_.erase(client);
    }
    return {};
  }
  ++held;
  return admission_lease(this, admission_lease::kind::stream, client, 0);
}

admission_lease connection_limits::reserve_body(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  if (bytes > settings_.max_buffered_body_bytes ||
      buffered_bytes_ > settings_.max_buffered_body_bytes - bytes) {
    return {};
  }
  buffered_bytes_ += bytes;
  return admission_lease(this, admission_lease::kind::body, {}, bytes);
}

void connection_limits::give_back(admission_lease::kind k, const std::string& client,
                                  std::size_t bytes) {
  std::lock_guard lock(mutex_);
  switch (k) {
    case admission_lease::kind::connection: {
      open_.fetch_sub(1, std::memory_order_relaxed);
      auto it = connections_by_client_.find(client);
      if (it != connections_by_client_.end() && --it->second == 0) {
        connections_by_client_.erase(it);
      }
      break;
    }
    case admission_lease::kind::stream: {
      auto it = streams_by_client_.find(client);
      if (it != streams_by_client_.end() && --it->second == 0) {
        streams_by_client_.erase(it);
      }
      break;
    }
    case admission_lease::kind::body:
      buffered_bytes_ -= bytes;
      break;
  }
}

}  // namespace kiwi
