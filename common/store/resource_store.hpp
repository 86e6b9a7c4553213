#pragma once
// Services, registries and runtimes registered through the API, kept in Redis as the same JSON
// the config file uses (common/resources), with every secret field sealed by secret_box
// (AES-256-GCM, bound to "<kind>/<name>/<field>"): Redis never holds one in plaintext.
// Resources from the config file are not stored here; callers merge them (read-only).

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/redis/redis_client.hpp"
#include "common/config/resources.hpp"
#include "common/security/secret_box.hpp"

namespace kiwi {

enum class resource_kind { service, registry, runtime };
std::string_view to_string(resource_kind k);  // "service", "registry", "runtime"

class resource_store {
 public:
  // box may be null: then resources holding secrets cannot be stored (an error says why).
  resource_store(redis_client& redis, const secret_box* box, std::chrono::milliseconds timeout);

  template <class R>
  using result = std::pair<boost::system::error_code, R>;

  boost::asio::awaitable<result<std::optional<service_config>>> service(const std::string& name);
  boost::asio::awaitable<result<std::vector<service_config>>> services();
  boost::asio::awaitable<result<std::optional<registry_config>>> registry(const std::string& name);
  boost::asio::awaitable<result<std::vector<registry_config>>> registries();
  boost::asio::awaitable<result<std::optional<runtime_config>>> runtime(const std::string& name);
  boost::asio::awaitable<result<std::vector<runtime_config>>> runtimes();

  // Names of the stored resources of a kind (no secret is opened).
  boost::asio::awaitable<result<std::vector<std::string>>> names(resource_kind kind);

  // create: fails with false when the name exists. replace: creates or overwrites.
  boost::asio::awaitable<result<bool>> put(const service_config& s, bool create);
  boost::asio::awaitable<result<bool>> put(const registry_config& r, bool create);
  boost::asio::awaitable<result<bool>> put(const runtime_config& r, bool create);
  // false when there was nothing to delete.
  boost::asio::awaitable<result<bool>> remove(resource_kind kind, const std::string& name);

  // Re-encrypts every stored secret that is not sealed with this store's key: opens it with
  // `old` and seals it again. Returns how many secrets were re-sealed; throws
  // secret_store_error for a secret neither key opens (nothing after it is written).
  boost::asio::awaitable<result<std::size_t>> reseal_all(const secret_box& old);

  // The stored JSON with secrets sealed, and back (exposed for tests and the rekey command).
  std::string seal(resource_kind kind, nlohmann::json doc) const;
  nlohmann::json unseal(resource_kind kind, const std::string& stored) const;

 private:
  boost::asio::awaitable<result<bool>> put_doc(resource_kind kind, const std::string& name,
                                               nlohmann::json doc, bool create);
  boost::asio::awaitable<result<std::optional<std::string>>> get_doc(resource_kind kind,
                                                                     const std::string& name);
  boost::asio::awaitable<result<std::vector<std::string>>> all_docs(resource_kind kind);

  redis_client& redis_;
  const secret_box* box_;
  std::chrono::milliseconds timeout_;
};

// Thrown by resource_store when a stored secret cannot be opened (wrong key file) or a secret
// would have to be stored without a key.
struct secret_store_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace kiwi
