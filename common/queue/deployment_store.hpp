#pragma once
// Deployment revisions in Redis (docs/deploy.md#history, docs/redis.md): every deploy of a
// service to an environment is a revision, numbered from 1 per (service, environment), holding
// the image by digest, the complete environment config it used (secret_env values sealed with
// the secret box, bound to "deployment/<id>/secret_env/<NAME>"), who or what started it, its
// status, message, diagnostics and times. Keys share the queue's hash tag {q}.
//
// Bounded: the newest `keep` revisions per environment are kept (default 50); creating one past
// that removes the oldest. A revision's build is protected from retention while a kept revision
// references it (job_queue::protect_build's set, reference-counted here).

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/config/resources.hpp"
#include "common/redis/redis_client.hpp"
#include "common/security/secret_box.hpp"

namespace kiwi {

struct deployment_revision {
  std::string id;  // 26 characters, sortable by creation time (new_build_id)
  std::string service;
  std::string environment;
  unsigned long long revision = 0;  // per (service, environment), from 1
  std::string build_id;             // the build whose image it runs (empty: given by digest)
  std::string image;                // registry/repository@sha256:<64 hex>
  environment_config config;        // secret_env values in clear, in memory only
  std::string trigger;      // "push", "rollback", "auto_rollback", or the API token's name
  std::string rollback_of;  // the revision id whose image and config it redeploys
  std::string status = "queued";  // queued, running, succeeded, failed
  std::string message;
  std::vector<std::string> diagnostics;
  std::string url;
  std::string job_id;  // the queue job that runs it
  std::chrono::system_clock::time_point created_at{};
  std::optional<std::chrono::system_clock::time_point> started_at, finished_at;
};

// "host/repo:tag" and "sha256:..." -> "host/repo@sha256:..."; empty when there is no digest.
std::string image_by_digest(const std::string& image, const std::string& digest);

// Whether `image` is "<repository>@sha256:<64 lowercase hex>".
bool is_digest_reference(const std::string& image);

// The JSON form of the API (secret_env values "***").
nlohmann::json to_json(const deployment_revision& d);

class deployment_store {
 public:
  static constexpr unsigned default_keep = 50;

  // box may be null: then a config with secret_env cannot be stored (an error says why).
  deployment_store(redis_client& redis, const secret_box* box, std::chrono::milliseconds timeout,
                   unsigned keep = default_keep);

  template <class R>
  using result = std::pair<boost::system::error_code, R>;

  // Stores `d` as the next revision of its (service, environment): fills id (when empty),
  // revision and created_at, protects its build, and removes revisions past `keep`.
  boost::asio::awaitable<result<deployment_revision>> create(deployment_revision d);

  boost::asio::awaitable<result<std::optional<deployment_revision>>> get(const std::string& id);

  // Newest first, at most `limit`.
  boost::asio::awaitable<result<std::vector<deployment_revision>>> list(
      const std::string& service, const std::string& environment, unsigned limit = 50);

  // Sets status and message (and diagnostics, url when given); running stamps started_at,
  // succeeded and failed stamp finished_at. False when the revision does not exist.
  boost::asio::awaitable<result<bool>> set_status(const std::string& id, const std::string& status,
                                                  const std::string& message,
                                                  const std::vector<std::string>& diagnostics = {},
                                                  const std::string& url = {});

  // The newest succeeded revision of (service, environment) older than `before` (a revision
  // number; 0: any), or none.
  boost::asio::awaitable<result<std::optional<deployment_revision>>> last_succeeded(
      const std::string& service, const std::string& environment,
      unsigned long long before = 0);

  // Serialization per (service, environment), across workers: a lock held by one deployment id
  // with a lease. acquire succeeds when free, expired, or already held by the same id (a
  // reclaimed deploy takes its own lock over); renew extends it while held; release frees it.
  boost::asio::awaitable<result<bool>> acquire(const std::string& service,
                                               const std::string& environment,
                                               const std::string& deployment_id,
                                               std::chrono::milliseconds lease);
  boost::asio::awaitable<result<bool>> renew(const std::string& service,
                                             const std::string& environment,
                                             const std::string& deployment_id,
                                             std::chrono::milliseconds lease);
  boost::asio::awaitable<result<bool>> release(const std::string& service,
                                               const std::string& environment,
                                               const std::string& deployment_id);

 private:
  std::string seal_config(const std::string& id, const environment_config& e) const;
  environment_config open_config(const std::string& id, const std::string& stored) const;
  deployment_revision decode(const redis_value& hash) const;

  redis_client& redis_;
  const secret_box* box_;
  std::chrono::milliseconds timeout_;
  unsigned keep_;
};

}  // namespace kiwi
