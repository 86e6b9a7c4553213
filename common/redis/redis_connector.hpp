#pragma once
// Opens connections to Redis for redis_client: a unix socket, or TCP to each resolved address
// in turn (TCP_NODELAY), then TLS for rediss:// (SNI, the server's name verified), all within
// one deadline. AUTH and SELECT are the client's.

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>

#include "common/config/config.hpp"

namespace kiwi {

// An ssl::stream over a generic (TCP or unix) socket; without TLS only its next layer is used.
using redis_socket = boost::asio::generic::stream_protocol::socket;
using redis_stream = boost::asio::ssl::stream<redis_socket>;

class redis_connector {
 public:
  // Throws std::runtime_error naming the redis_tls key whose file cannot be loaded.
  redis_connector(boost::asio::any_io_executor executor, const redis_endpoint& endpoint);

  struct opened {
    std::unique_ptr<redis_stream> stream;  // null on failure
    std::string error;                     // why it failed, for the log
  };
  // One attempt, bounded by `deadline`.
  boost::asio::awaitable<opened> open(std::chrono::milliseconds deadline);

  // Closes the connection being opened, if any; later opens fail at once.
  void stop();

 private:
  boost::asio::any_io_executor executor_;
  const redis_endpoint& endpoint_;  // the client's, which outlives this
  std::unique_ptr<boost::asio::ssl::context> tls_;  // rediss:// only; shared by its connections
  redis_stream* connecting_ = nullptr;  // the connection being opened (closed by stop())
  bool stopped_ = false;
};

}  // namespace kiwi
