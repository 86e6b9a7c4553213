#include "worker/kaniko_backend.hpp"

#include <deque>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/kubernetes/kaniko_pod.hpp"
#include "common/security/redact.hpp"
#include "worker/kaniko_api.hpp"
#include "worker/kaniko_failure.hpp"
#include "worker/kaniko_log.hpp"

namespace kiwi {

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t kept_lines = 20;
// A cluster that cannot be reached for this long (while the build runs) fails the build
// (transient: it is retried).
constexpr std::chrono::seconds unreachable_grace{30};

image_build_error make_error(image_build_errc code, failure_kind kind, std::string message) {
  return make_image_build_error(code, std::move(message), kind);
}

class kaniko_run {
 public:
  explicit kaniko_run(const kaniko_build_request& request)
      : request_(request),
        spec_(request.spec),
        ns_path_("/namespaces/" + request.spec.namespace_) {
    for (const auto& s : request.secrets) {
      secrets_.add(s);
    }
    secrets_.add(spec_.git_token, spec_.git_username);
    if (spec_.registry) {
      secrets_.add(spec_.registry->password, spec_.registry->username);
    }
  }

  image_build_outcome run() {
    image_build_outcome outcome = image_build_error{};
    try {
      kube_api api(request_.runtime, std::chrono::seconds(30));
      outcome = create_and_follow(api);
    } catch (const http_unreachable& e) {
      outcome = api_unreachable(e);
    } catch (const std::exception& e) {
      outcome = make_error(image_build_errc::other, failure_kind::transient,
                           std::string("Kaniko build: ") + e.what());
    }
    clean_up();
    if (auto* e = std::get_if<image_build_error>(&outcome)) {
      secrets_.redact_in_place(e->message);
      e->last_lines.assign(last_lines_.begin(), last_lines_.end());
    }
    return outcome;
  }

 private:
  std::string secret_path() const { return "/api/v1" + ns_path_ + "/secrets"; }
  std::string job_path() const { return "/apis/batch/v1" + ns_path_ + "/jobs"; }

  void say(std::string_view line) {
    std::string shown = secrets_.redact(line);
    if (request_.on_line) {
      request_.on_line(shown);
    }
    last_lines_.push_back(std::move(shown));
    if (last_lines_.size() > kept_lines) {
      last_lines_.pop_front();
    }
  }

  bool cancelled() const { return request_.cancel && request_.cancel->load(); }
  bool past_deadline() const { return clock_type::now() >= request_.deadline; }

  std::optional<image_build_error> stop_reason() const {
    if (cancelled()) {
      return make_error(image_build_errc::cancelled, failure_kind::permanent,
                        "the build was cancelled");
    }
    if (past_deadline()) {
      return make_error(image_build_errc::timed_out, failure_kind::permanent,
                        "the Kaniko build did not finish before the build deadline "
                        "(worker.build_timeout_s)");
    }
    return std::nullopt;
  }

  // Sleeps up to `d`, waking early on cancel or the deadline.
  void nap(std::chrono::milliseconds d) const {
    const auto until = std::min(clock_type::now() + d, request_.deadline);
    while (clock_type::now() < until && !cancelled()) {
      std::this_thread::sleep_for(std::min<clock_type::duration>(
          std::chrono::milliseconds(50), until - clock_type::now()));
    }
  }

  // POST, and once more after removing what a previous attempt of this build left (409).
  std::optional<image_build_error> create(kube_api& api, const std::string& collection,
                                          const json& manifest, const std::string& what,
                                          bool& created, std::string* answer = nullptr) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      http_reply r = api.call("POST", collection, &manifest);
      if (r.status == 201 || r.status == 200) {
        created = true;
        if (answer) {
          *answer = std::move(r.body);
        }
        return std::nullopt;
      }
      if (r.status == 409 && attempt == 0) {
        say("removing " + what + " " + spec_.name + " left by an earlier attempt of this build");
        remove(api, collection + "/" + spec_.name + "?propagationPolicy=Background", what);
        // Deletion is asynchronous (the Job's finalizers): wait until it is gone.
        const auto until = clock_type::now() + std::chrono::seconds(30);
        while (clock_type::now() < until && !cancelled()) {
          if (api.call("GET", collection + "/" + spec_.name).status == 404) {
            break;
          }
          nap(std::chrono::milliseconds(500));
        }
        continue;
      }
      return api_refusal(request_.runtime, "create the build " + what, r);
    }
    return make_error(image_build_errc::other, failure_kind::transient,
                      "the build " + what + " " + spec_.name + " still exists after deleting it");
  }

  bool remove(kube_api& api, const std::string& path, const std::string& what) {
    http_reply r = api.call("DELETE", path);
    if (r.status == 200 || r.status == 202 || r.status == 404) {
      return true;
    }
    const std::string detail = kube_status_message(r.body);
    spdlog::warn("kaniko: deleting {} {} failed: HTTP {} {}", what, spec_.name, r.status, detail);
    return false;
  }

  // The Job and Secret go whatever happened; a fresh connection, since the build's may be
  // broken. Background propagation: the API server deletes the Job's pod (stopping Kaniko).
  void clean_up() {
    if (!job_created_ && !secret_created_) {
      return;
    }
    try {
      kube_api api(request_.runtime, std::chrono::seconds(10));
      if (job_created_ &&
          remove(api, job_path() + "/" + spec_.name + "?propagationPolicy=Background", "Job")) {
        job_created_ = false;
      }
      if (secret_created_ && remove(api, secret_path() + "/" + spec_.name, "Secret")) {
        secret_created_ = false;
      }
    } catch (const std::exception& e) {
      spdlog::warn("kaniko: cleaning up {} failed: {}", spec_.name, e.what());
    }
    if (job_created_ || secret_created_) {
      say("warning: could not delete the build's " +
          std::string(job_created_ ? "Job" : "Secret") + " " + spec_.name + " in namespace " +
          spec_.namespace_ + "; the cluster removes the Job an hour after it ends");
    }
  }

  // Makes the Job the Secret's owner, so that the cluster's garbage collector removes the Secret
  // with the Job (ttlSecondsAfterFinished) should this worker die before it deletes both.
  // The Secret must exist before the Job (its pod mounts it), hence a patch afterwards; a
  // failed patch only loses that safety net.
  void own_secret_by_job(kube_api& api, const std::string& job_answer) {
    const json job = json::parse(job_answer, nullptr, false);
    const json* meta = job.is_object() && job.contains("metadata") ? &job["metadata"] : nullptr;
    if (!meta || !meta->contains("uid") || !(*meta)["uid"].is_string()) {
      return;
    }
    const json patch = {
        {"metadata",
         {{"ownerReferences", json::array({{{"apiVersion", "batch/v1"},
                                            {"kind", "Job"},
                                            {"name", spec_.name},
                                            {"uid", (*meta)["uid"]},
                                            {"blockOwnerDeletion", false}}})}}}};
    const std::string body = patch.dump();
    http_reply r = api.client().request("PATCH", secret_path() + "/" + spec_.name, &body,
                                        {{"Content-Type", "application/merge-patch+json"}});
    if (r.status != 200) {
      spdlog::warn("kaniko: making Job {} own its Secret failed: HTTP {} {}", spec_.name,
                   r.status, kube_status_message(r.body));
    }
  }

  image_build_outcome create_and_follow(kube_api& api) {
    const kaniko_settings& settings = request_.runtime.kaniko;
    say("Kaniko build on runtime " + request_.runtime.name + " (namespace " + spec_.namespace_ +
        ", executor " + settings.image + ")");
    if (auto e = create(api, secret_path(), kaniko_secret_manifest(spec_), "Secret",
                        secret_created_)) {
      return *e;
    }
    if (auto e = stop_reason()) {
      return *e;
    }
    std::string job;
    if (auto e = create(api, job_path(), kaniko_job_manifest(spec_, settings), "Job",
                        job_created_, &job)) {
      return *e;
    }
    say("created Job " + spec_.name);
    own_secret_by_job(api, job);
    return follow(api);
  }

  // Polls the Job's pod until it runs, follows its log, and reads how it ended.
  image_build_outcome follow(kube_api& api) {
    const kaniko_settings& settings = request_.runtime.kaniko;
    const auto poll = std::chrono::milliseconds(settings.poll_interval_ms);
    const std::string pods =
        "/api/v1" + ns_path_ + "/pods?labelSelector=job-name%3D" + spec_.name;
    // time_point{} stands for "not now" (std::optional trips GCC 12's -Wmaybe-uninitialized).
    clock_type::time_point unschedulable_since{};
    clock_type::time_point unreachable_since{};
    std::string last_waiting;
    bool log_complete = false;
    int log_tries_after_exit = 0;
    while (true) {
      if (auto e = stop_reason()) {
        return *e;
      }
      http_reply reply;
      try {
        reply = api.call("GET", pods);
        unreachable_since = {};
      } catch (const http_unreachable& e) {
        // The build goes on in the cluster: a short network loss does not end it.
        if (unreachable_since == clock_type::time_point{}) {
          unreachable_since = clock_type::now();
        } else if (clock_type::now() - unreachable_since > unreachable_grace) {
          return api_unreachable(e);
        }
        nap(poll);
        continue;
      }
      if (reply.status != 200) {
        return api_refusal(request_.runtime, "list the build's pods", reply);
      }
      const json list = json::parse(reply.body, nullptr, false);
      const kaniko_pod_state state = read_kaniko_pod(list, settings.image);
      using phase = kaniko_pod_state::phase;
      if (state.pod.empty()) {
        // No pod (yet, or any more): the Job's own status says whether it gave up.
        http_reply job = api.call("GET", job_path() + "/" + spec_.name);
        if (job.status == 200) {
          if (auto failed = job_failure(json::parse(job.body, nullptr, false))) {
            return make_error(image_build_errc::other, failure_kind::permanent, *failed);
          }
        } else if (job.status == 404) {
          return make_error(image_build_errc::other, failure_kind::transient,
                            "the build Job " + spec_.name + " was deleted by someone else");
        }
        nap(poll);
        continue;
      }
      if (state.what == phase::waiting) {
        if (state.unschedulable) {
          if (unschedulable_since == clock_type::time_point{}) {
            unschedulable_since = clock_type::now();
          }
          if (clock_type::now() - unschedulable_since >=
              std::chrono::seconds(settings.pending_timeout_s)) {
            return make_error(image_build_errc::other, failure_kind::permanent,
                              state.message + " (pending for " +
                                  std::to_string(settings.pending_timeout_s) + " s)");
          }
        } else {
          unschedulable_since = {};
        }
        if (!state.message.empty() && state.message != last_waiting) {
          say("waiting for the build pod " + state.pod + ": " + state.message);
          last_waiting = state.message;
        }
        nap(poll);
        continue;
      }
      if (state.what == phase::failed && state.exit_code < 0) {
        // It never ran (image pull, container config): nothing a retry would change.
        return make_error(image_build_errc::other, failure_kind::permanent, state.message);
      }
      const bool finished = state.what != phase::running;
      if (!log_complete) {
        const bool ended = read_log(api, state.pod);
        // A finished container whose log cannot be read (it was rotated away, say) still has
        // its outcome: after a few tries Kiwi reports it without the rest of the log.
        if (finished && (ended || ++log_tries_after_exit >= 3)) {
          log_complete = true;
        } else {
          continue;  // look at the pod again (and at cancel) after an idle or cut stream
        }
      }
      if (state.what == phase::succeeded) {
        image_build_result result;
        result.digest = state.digest;
        result.references = spec_.destinations;
        say("pushed " + spec_.destinations.front() + "@" + state.digest);
        return result;
      }
      if (state.what == phase::failed) {
        // Killed for memory, the log ends wherever it was cut: the pod's reason is the news.
        image_build_error e =
            state.oom_killed
                ? make_error(image_build_errc::other, failure_kind::permanent, state.message)
                : classify_kaniko_failure({last_lines_.begin(), last_lines_.end()},
                                          state.message);
        e.exit_code = e.exit_code >= 0 ? e.exit_code : state.exit_code;
        return e;
      }
    }
  }

  // Follows the executor's log from where it was left. True when the server ended the stream
  // (the container has exited); false after `log_idle` without a line, a cut connection, or a
  // refusal (the container is not started yet).
  // Follows the executor's log from where it was left. True when the server ended the stream
  // (the container has exited); false after `log_idle` without a line, a cut connection, or a
  // refusal (the container is not started yet).
  bool read_log(kube_api& api, const std::string& pod) {
    const auto got = log_.follow(api, "/api/v1" + ns_path_ + "/pods/" + pod, request_.log_idle,
                                 [this] { return !cancelled() && !past_deadline(); });
    if (got == kaniko_log::outcome::refused) {
      nap(std::chrono::milliseconds(request_.runtime.kaniko.poll_interval_ms));
    }
    return got == kaniko_log::outcome::ended;
  }

  const kaniko_build_request& request_;
  const kaniko_job_spec& spec_;
  const std::string ns_path_;
  redactor secrets_;
  std::deque<std::string> last_lines_;
  kaniko_log log_{[this](std::string_view line) { say(line); }};
  bool secret_created_ = false;
  bool job_created_ = false;
};

}  // namespace

image_build_outcome run_kaniko_build(const kaniko_build_request& request) {
  kaniko_run run(request);
  return run.run();
}

}  // namespace kiwi
