#include "common/queue/build_event.hpp"

#include <fmt/format.h>

namespace kiwi {

namespace {

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  append_json_string(out, value);
}

}  // namespace

std::string_view to_string(event_type t) {
  switch (t) {
    case event_type::build_queued: return "build.queued";
    case event_type::stage_started: return "stage.started";
    case event_type::stage_log: return "stage.log";
    case event_type::stage_succeeded: return "stage.succeeded";
    case event_type::stage_failed: return "stage.failed";
    case event_type::build_succeeded: return "build.succeeded";
    case event_type::build_failed: return "build.failed";
    case event_type::build_retrying: return "build.retrying";
    case event_type::build_requeued: return "build.requeued";
    case event_type::build_superseded: return "build.superseded";
    case event_type::build_cancelled: return "build.cancelled";
    case event_type::deploy_started: return "deploy.started";
    case event_type::deploy_progress: return "deploy.progress";
    case event_type::deploy_succeeded: return "deploy.succeeded";
    case event_type::deploy_failed: return "deploy.failed";
    case event_type::deploy_rolled_back: return "deploy.rolled_back";
  }
  return "unknown";
}

std::string_view stored_event_field(std::string_view event, std::string_view name) {
  std::string key = "\"";
  key.append(name).append("\":\"");
  auto at = event.find(key);
  if (at == std::string_view::npos) {
    return {};
  }
  at += key.size();
  auto end = event.find('"', at);
  return end == std::string_view::npos ? std::string_view() : event.substr(at, end - at);
}

std::string event_json_prefix(const build_event& e) {
  std::string out = "{\"v\":1";
  out.reserve(256 + e.message.size());
  append_field(out, "type", to_string(e.type));
  append_field(out, "build_id", e.build_id);
  append_field(out, "service", e.service);
  append_field(out, "ref", e.ref);
  append_field(out, "sha", e.sha);
  append_field(out, "stage", e.stage);
  append_field(out, "status", e.status);
  append_field(out, "ts", format_timestamp(e.ts));
  append_field(out, "message", e.message);
  if (!e.deployment_id.empty()) {
    append_field(out, "deployment_id", e.deployment_id);
    append_field(out, "environment", e.environment);
    out += ",\"revision\":" + std::to_string(e.revision);
  }
  return out;
}

std::string event_json(const build_event& e, long long seq) {
  return event_json_prefix(e) + ",\"seq\":" + std::to_string(seq) + "}";
}

}  // namespace kiwi
