#pragma once
// Runs the stages of worker/pipeline.hpp for job_runner: reads the service's settings, clones,
// builds, scans and pushes the image (scan_stage.hpp, build_stage.hpp), sleeps (noop), and says what each came to as a stage_report. Each stage's output goes
// out as stage.log events while it runs. Blocking work (libgit2, buildah, the file system) runs
// on the worker's blocking pool; the rest on the calling coroutine's executor.

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/config/config.hpp"
#include "common/queue/job_queue.hpp"
#include "common/store/resource_store.hpp"
#include "common/queue/deployment_store.hpp"
#include "worker/build_network.hpp"
#include "worker/deploy_stage.hpp"
#include "worker/pipeline.hpp"

namespace kiwi {

// One build as its stages see it.
struct stage_job {
  const claimed_job* job = nullptr;
  build_event base;                         // build id, service, ref, sha of its events
  const service_config* service = nullptr;  // push: set once resolve_service found it
  std::filesystem::path workspace;          // data_dir/workspaces/<build_id>
  const std::atomic<bool>* cancel = nullptr;
  const field_list* earlier = nullptr;  // build-record fields of this try's finished stages
};

class stage_runner {
 public:
  // store: services, registries and runtimes registered through the API.
  // network: prepared at worker start (prepare_build_network).
  stage_runner(const kiwi_config& config, job_queue& queue, resource_store& store,
               deployment_store& deployments, boost::asio::thread_pool& blocking,
               build_network network);

  // The service's settings into `out`: the config file's, else the API's (Redis).
  boost::asio::awaitable<pipeline_event> resolve_service(const std::string& name,
                                                         std::optional<service_config>& out);
  // Runs `stage` to its end. A stop request (job.cancel) ends it early with whatever report;
  // job_runner checks the stop flag afterwards and reports the stop instead.
  boost::asio::awaitable<stage_report> run(pipeline_stage stage, const stage_job& job);
  boost::asio::awaitable<void> remove_workspace(const std::filesystem::path& workspace);

 private:
  boost::asio::awaitable<stage_report> clone(const stage_job& job);
  boost::asio::awaitable<stage_report> build(const stage_job& job);
  boost::asio::awaitable<stage_report> scan(const stage_job& job);
  boost::asio::awaitable<stage_report> push(const stage_job& job);
  boost::asio::awaitable<stage_report> noop(const stage_job& job);
  // stage.log events for a stage's output lines, at most worker.max_log_lines per stage.
  std::function<void(std::string_view)> log_lines(const build_event& base, std::string_view stage,
                                                  const boost::asio::any_io_executor& executor);

  const kiwi_config& config_;
  job_queue& queue_;  // stage.log events, written detached
  resource_store& store_;
  boost::asio::thread_pool& blocking_;
  build_network network_;  // what every local build's RUN steps may reach
  deploy_stage deploy_;
};

}  // namespace kiwi
