#pragma once
// The events Kiwi publishes for every state change of a build (docs/events.md):
// {"v":1,"type","build_id","service","ref","sha","stage","status","ts","seq","message"}.
// `seq` is assigned by Redis when the event is stored, so the JSON is produced here without it
// and completed by the storing script (see job_queue).

#include <chrono>
#include <string>
#include <string_view>

#include "common/base/text_format.hpp"  // append_json_string, format_timestamp

namespace kiwi {

enum class event_type {
  build_queued,
  stage_started,
  stage_log,
  stage_succeeded,
  stage_failed,
  build_succeeded,
  build_failed,
  build_retrying,    // a transient failure; the build runs again after a backoff
  build_requeued,    // back in the queue: its worker stopped, or handed it back on shutdown
  build_superseded,  // a newer push to the same ref replaced it
  build_cancelled,   // stopped on request
  deploy_started,    // a deployment revision runs (docs/deploy.md)
  deploy_progress,   // replicas ready n/m, diagnostics
  deploy_succeeded,
  deploy_failed,
  deploy_rolled_back  // auto_rollback redeployed the last successful revision
};

std::string_view to_string(event_type t);

struct build_event {
  event_type type = event_type::build_queued;
  std::string build_id;
  std::string service;
  std::string ref;
  std::string sha;
  std::string stage;    // "clone", ...; empty for build-level events
  std::string status;   // queued, running, succeeded, failed
  std::string message;  // human-readable; never holds a secret
  // deploy.* events: the revision (appended after message when deployment_id is set).
  std::string deployment_id;
  std::string environment;
  unsigned long long revision = 0;
  std::chrono::system_clock::time_point ts = std::chrono::system_clock::now();
};

// The event as JSON minus its closing brace and seq: `{"v":1,...,"message":"..."`.
std::string event_json_prefix(const build_event& e);
// The complete event for a given seq (what the storing script produces).
std::string event_json(const build_event& e, long long seq);

// A plain string field of a stored event, read without parsing the whole event: stored events
// start {"v":1,"type":"...","build_id":"...",... (event_json and the queue's Lua write them so),
// and neither value ever holds a quote. Empty when the field is absent.
std::string_view stored_event_field(std::string_view event, std::string_view name);

}  // namespace kiwi
