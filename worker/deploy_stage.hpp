#pragma once
// The deploy stage (docs/deploy.md): runs deployment revisions on their environment's runtime
// through the deployer of common/deploy. A push build ends with one revision per environment
// with auto_deploy; a deploy job (kind "deploy", from the API's deploys and rollbacks) runs the
// revision its record names. Each revision:
// - waits for its environment's lock (deployment_store::acquire; one deploy per (service,
//   environment) across all workers), renewed while it runs and released at the end;
// - publishes deploy.started, deploy.progress, deploy.succeeded / deploy.failed (and
//   deploy.rolled_back) in the build's event stream and channels;
// - records its status, message, diagnostics and url in the revision;
// - on failure with auto_rollback, redeploys the last successful revision's image and config as
//   a new revision (trigger auto_rollback, rollback_of it).
// A reclaimed job finds the revisions it already made in its build record
// (deploy.<env>.deployment) and runs them again rather than making new ones.

#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/config/config.hpp"
#include "common/queue/deployment_store.hpp"
#include "common/queue/job_queue.hpp"
#include "common/store/resource_store.hpp"
#include "worker/pipeline.hpp"

namespace kiwi {

struct stage_job;

class deploy_stage {
 public:
  deploy_stage(const kiwi_config& config, job_queue& queue, deployment_store& deployments,
               resource_store& resources, boost::asio::thread_pool& blocking);

  // A push build: every auto_deploy environment of the service, in the order listed.
  boost::asio::awaitable<stage_report> after_push(const stage_job& job);
  // A deploy job: the revision in the record's deployment_id.
  boost::asio::awaitable<stage_report> deploy_job(const stage_job& job);

 private:
  struct outcome {
    bool succeeded = false;
    bool stopped = false;  // the lease was lost: nothing more is written
    std::string message;
    failure_kind kind = failure_kind::permanent;
  };
  // Runs `d` under its environment's lock, then its automatic rollback if it failed.
  boost::asio::awaitable<outcome> run_revision(deployment_revision d, const stage_job& job);
  // Runs `d` (the lock is held): status, events, the deployer.
  boost::asio::awaitable<outcome> run_locked(const deployment_revision& d, const stage_job& job);
  boost::asio::awaitable<bool> wait_for_lock(const deployment_revision& d, const stage_job& job);
  boost::asio::awaitable<bool> publish(const stage_job& job, const deployment_revision& d,
                                       event_type type, const std::string& status,
                                       const std::string& message);

  const kiwi_config& config_;
  job_queue& queue_;
  deployment_store& deployments_;
  resource_store& resources_;
  boost::asio::thread_pool& blocking_;
};

}  // namespace kiwi
