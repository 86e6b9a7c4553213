#include "daemon/api/builds.hpp"

#include <algorithm>

#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "common/base/json_fields.hpp"
#include "common/queue/build_id.hpp"
#include "common/redis/redis_keys.hpp"
#include "common/scan/scan_summary.hpp"
#include "common/scan/trivy_report.hpp"
#include "daemon/api/services.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {
namespace {

// A Unix-ms timestamp of the build record; nullopt when absent or not a number.
std::optional<long long> unix_ms(const json& object, const char* key) {
  if (!object.contains(key) || !object[key].is_string()) {
    return std::nullopt;
  }
  const std::string& text = object[key].get_ref<const std::string&>();
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoll(text);
}

// The build record as JSON: scalar fields, and stages grouped from stage.<name>.<field>, each
// finished stage with its duration_ms, and the build's duration_ms from its first stage's start
// to its end. The list of a service's builds leaves out the stored Dockerfile (with_dockerfile).
json build_json(const field_list& fields, bool with_dockerfile = true) {
  json j = json::object();
  json stages = json::object();
  static const std::vector<std::string_view> hidden = {"delivery", "lease", "worker", "cancel"};
  for (const auto& [k, v] : fields) {
    if (k.starts_with("stage.")) {
      auto dot = k.find('.', 6);
      if (dot != std::string::npos) {
        stages[k.substr(6, dot - 6)][k.substr(dot + 1)] = v;
      }
      continue;
    }
    if (std::find(hidden.begin(), hidden.end(), k) != hidden.end() ||
        (!with_dockerfile && k == "dockerfile")) {
      continue;
    }
    if (k == "scan") {  // the scan stage's record, stored as JSON text (docs/scan.md)
      j[k] = json::parse(v, nullptr, false);
      continue;
    }
    j[k] = v;
  }
  std::optional<long long> first_start;
  for (auto& [name, stage] : stages.items()) {
    const auto started = unix_ms(stage, "started_at");
    const auto finished = unix_ms(stage, "finished_at");
    if (started && finished && *finished >= *started) {
      stage["duration_ms"] = *finished - *started;
    }
    if (started && (!first_start || *started < *first_start)) {
      first_start = started;
    }
  }
  if (const auto finished = unix_ms(j, "finished_at");
      finished && first_start && *finished >= *first_start) {
    j["duration_ms"] = *finished - *first_start;
  }
  j["stages"] = stages;
  return j;
}

// The build's record; 404 when there is none.
asio::awaitable<field_list> existing_build(api_context& ctx, const std::string& id) {
  auto [ec, fields] = co_await ctx.queue.build_record(id);
  check(ec);
  if (fields.empty()) {
    throw api_error{404, missing_build_message(id, ctx.config.retention), ""};
  }
  co_return fields;
}

// The head of the branch on the git server; 422 when it cannot be read or has no such branch.
asio::awaitable<std::string> branch_head(const service_config& s, const std::string& branch) {
  const probe_request request = probe_request_of(s);
  auto executor = co_await asio::this_coro::executor;
  auto work = [request]() { return probe_remote(request); };
  const probe_result found = co_await run_blocking(blocking_pool(), executor, work);
  if (!found.ok) {
    throw api_error{422, found.error, "branch"};
  }
  auto it = found.heads.find(branch);
  if (it == found.heads.end()) {
    throw api_error{422, "branch: no branch \"" + branch + "\" in " + s.git_url, "branch"};
  }
  co_return it->second;
}

// A manual build of the branch at sha, as a push would queue it.
enqueue_request manual_build(const service_config& s, const std::string& branch,
                             const std::string& sha) {
  enqueue_request job;
  job.build_id = new_build_id();
  job.provider = "api";
  job.delivery_id = job.build_id;
  job.service = s.name;
  job.cancel_superseded = s.cancel_superseded;
  job.max_concurrent_builds = s.max_concurrent_builds;
  job.fields = {{"service", s.name},  {"kind", "push"},        {"trigger", "manual"},
                {"provider", "api"},  {"ref", "refs/heads/" + branch},
                {"sha", sha},         {"branch", branch},      {"tag", ""},
                {"pusher", "api"},    {"commit_message", ""},
                {"first_stage", "clone"},
                {"first_message", "cloning refs/heads/" + branch + " at " + sha.substr(0, 12)}};
  job.queued_event.type = event_type::build_queued;
  job.queued_event.build_id = job.build_id;
  job.queued_event.service = s.name;
  job.queued_event.ref = "refs/heads/" + branch;
  job.queued_event.sha = sha;
  job.queued_event.status = "queued";
  job.queued_event.message = "manual build of " + branch + " at " + sha.substr(0, 12);
  return job;
}

}  // namespace

asio::awaitable<api_reply> list_builds(const api_request& req, api_context& ctx) {
  const std::string& name = req.path_param("name");
  co_await existing_service(ctx, name);
  const long limit = std::clamp(std::atol(req.query_or("limit", "20").c_str()), 1L, 100L);
  const long offset = std::max(0L, std::atol(req.query_or("offset", "0").c_str()));
  auto ids = co_await ctx.redis.command(
      redis_args("ZREVRANGE", keys::service_builds(name), std::to_string(offset),
                 std::to_string(offset + limit - 1)),
      ctx.config.redis_timeout);
  check(ids.ec);
  json items = json::array();
  for (const auto& id : ids.value.elements) {
    auto [ec, fields] = co_await ctx.queue.build_record(id.str);
    check(ec);
    if (!fields.empty()) {
      items.push_back(build_json(fields, false));
    }
  }
  json j{{"items", items}};
  if (static_cast<long>(ids.value.elements.size()) == limit) {
    j["next_offset"] = offset + limit;
  }
  co_return ok(j);
}

asio::awaitable<api_reply> show_build(const api_request& req, api_context& ctx) {
  co_return ok(build_json(co_await existing_build(ctx, req.path_param("id"))));
}

// The stored log as text, one "[stage] line" per stage.log event (?follow=1 is the event
// stream's: daemon/event_stream.cpp).
asio::awaitable<api_reply> build_log(const api_request& req, api_context& ctx) {
  const std::string& id = req.path_param("id");
  co_await existing_build(ctx, id);
  auto entries = co_await ctx.redis.command(redis_args("XRANGE", keys::build_events(id), "-", "+"),
                                            ctx.config.redis_timeout);
  check(entries.ec);
  std::string text;
  for_each_stream_entry(entries.value, [&](const std::string&, const std::string& event) {
    const json e = json::parse(event, nullptr, false);
    if (e.is_object() && e.value("type", "") == "stage.log") {
      text += "[" + e.value("stage", "") + "] " + e.value("message", "") + "\n";
    }
  });
  api_reply reply;
  reply.raw = std::move(text);
  reply.content_type = "text/plain; charset=utf-8";
  co_return reply;
}

// The build's scan record (its `scan` field) as JSON; 404 when it has none, or when the scan
// was skipped (saying why).
asio::awaitable<json> existing_scan(api_context& ctx, const std::string& id) {
  const field_list fields = co_await existing_build(ctx, id);
  const auto it = std::find_if(fields.begin(), fields.end(),
                               [](const auto& f) { return f.first == "scan"; });
  json scan = it == fields.end() ? json() : json::parse(it->second, nullptr, false);
  if (!scan.is_object()) {
    throw api_error{404, "build " + id + " has no scan (it has not reached its scan stage, or "
                         "was built before scans existed)", ""};
  }
  if (scan.value("status", "") == "skipped") {
    throw api_error{404, "build " + id + " has no scan: " + scan.value("message", "skipped"),
                    ""};
  }
  co_return scan;
}

asio::awaitable<api_reply> build_scan(const api_request& req, api_context& ctx) {
  const std::string& id = req.path_param("id");
  json scan = co_await existing_scan(ctx, id);
  json findings = json::array();
  auto [ec, report] = co_await ctx.queue.scan_report(id);
  check(ec);
  if (report) {
    report_outcome outcome = parse_trivy_report(*report);
    if (auto* parsed = std::get_if<trivy_report>(&outcome)) {
      std::sort(parsed->findings.begin(), parsed->findings.end(), worse);
      for (std::size_t i = 0; i < std::min<std::size_t>(parsed->findings.size(), 1000); ++i) {
        findings.push_back(to_json(parsed->findings[i]));
      }
      scan["findings_total"] = parsed->findings.size();
    }
  }
  scan["build_id"] = id;
  scan["findings"] = std::move(findings);
  scan["report_stored"] = report.has_value();
  co_return ok(scan);
}

asio::awaitable<api_reply> build_scan_report(const api_request& req, api_context& ctx) {
  const std::string& id = req.path_param("id");
  const json scan = co_await existing_scan(ctx, id);
  auto [ec, report] = co_await ctx.queue.scan_report(id);
  check(ec);
  if (!report) {
    throw api_error{404, "build " + id + " has no stored scan report (its scan: " +
                             scan.value("message", "") + ")", ""};
  }
  api_reply reply;
  reply.raw = std::move(*report);
  reply.content_type = "application/json";
  co_return reply;
}

asio::awaitable<api_reply> start_build(const api_request& req, api_context& ctx) {
  const service_config s = co_await existing_service(ctx, req.path_param("name"));
  const json body = parse_optional_body(req);
  const std::string branch = json_fields::get_string(body, "branch", "branch", false, s.branch);
  std::string sha = json_fields::get_string(body, "commit", "commit", false);
  if (!sha.empty() &&
      (sha.size() != 40 || sha.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    throw api_error{422, "commit: must be a full 40-character commit id", "commit"};
  }
  if (sha.empty()) {
    sha = co_await branch_head(s, branch);
  }
  const enqueue_request job = manual_build(s, branch, sha);
  auto [ec, out] = co_await ctx.queue.enqueue(job);
  check(ec);
  spdlog::info("build {} queued by the API: {} {} {}", out.build_id, s.name, branch, sha);
  co_return ok(json{{"status", "queued"}, {"build_id", out.build_id}, {"number", out.number},
                    {"sha", sha}},
               202);
}

asio::awaitable<api_reply> cancel_build(const api_request& req, api_context& ctx) {
  const std::string& id = req.path_param("id");
  const std::string message = "cancelled through the API";
  auto [ec, state] = co_await ctx.queue.cancel(id, message);
  check(ec);
  if (state == "not_found") {
    throw api_error{404, missing_build_message(id, ctx.config.retention), ""};
  }
  if (state != "cancelled" && state != "cancelling") {
    const std::string status = state.starts_with("ended:") ? state.substr(6) : state;
    throw api_error{409, "build " + id + " already ended (" + status + ")", ""};
  }
  co_return ok(json{{"build_id", id}, {"status", state}}, state == "cancelled" ? 200 : 202);
}

}  // namespace kiwi
