// kiwictl build ...: start, list, show, cancel, logs (-f follows the Server-Sent Events stream).

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/sse_parser.hpp"

namespace kiwi::cli {

using json = nlohmann::json;

namespace {

// A stream silent this long (the server sends keep-alive comments) is reconnected.
constexpr std::chrono::seconds stream_idle_timeout{45};
// kiwid unreachable this long while following: give up (exit 4).
constexpr std::chrono::seconds reconnect_give_up{60};

bool final_status(const std::string& s) {
  return s == "succeeded" || s == "failed" || s == "cancelled" || s == "superseded";
}

// The exit code of a final build status or event type.
int outcome_code(std::string_view status) {
  if (status == "succeeded" || status == "build.succeeded") {
    return to_int(exit_code::ok);
  }
  if (status == "cancelled" || status == "superseded" || status == "build.cancelled" ||
      status == "build.superseded") {
    return to_int(exit_code::build_cancelled);
  }
  return to_int(exit_code::api_error);
}

bool final_event(std::string_view type) {
  return type == "build.succeeded" || type == "build.failed" || type == "build.cancelled" ||
         type == "build.superseded";
}

// Stages in the order they started.
std::vector<std::pair<std::string, json>> ordered_stages(const json& build) {
  std::vector<std::pair<std::string, json>> stages;
  const json all = build.value("stages", json::object());
  for (const auto& [name, st] : all.items()) {
    stages.emplace_back(name, st);
  }
  std::sort(stages.begin(), stages.end(), [](const auto& a, const auto& b) {
    return text_of(a.second, "started_at") < text_of(b.second, "started_at");
  });
  return stages;
}

void print_stages(const json& build) {
  std::vector<table_row> rows;
  for (const auto& [name, st] : ordered_stages(build)) {
    rows.push_back({name, text_of(st, "status"), format_unix_ms(text_of(st, "started_at")),
                    format_duration(text_of(st, "started_at"), text_of(st, "finished_at"))});
  }
  if (rows.empty()) {
    std::cout << "(no stage has started)\n";
    return;
  }
  print_table(std::cout, {"STAGE", "STATUS", "STARTED", "DURATION"}, rows);
}

void print_build(const json& b) {
  std::vector<std::pair<std::string, std::string>> f;
  auto add = [&](const char* label, std::string value) {
    if (!value.empty()) {
      f.emplace_back(label, std::move(value));
    }
  };
  add("build", text_of(b, "build_id").empty() ? text_of(b, "id") : text_of(b, "build_id"));
  add("service", text_of(b, "service"));
  add("number", text_of(b, "number"));
  add("status", text_of(b, "status"));
  add("ref", text_of(b, "ref"));
  add("sha", text_of(b, "sha"));
  add("trigger", text_of(b, "trigger"));
  add("pusher", text_of(b, "pusher"));
  add("commit message", text_of(b, "commit_message"));
  add("queued", format_unix_ms(text_of(b, "queued_at")));
  add("started", format_unix_ms(text_of(b, "started_at")));
  add("finished", format_unix_ms(text_of(b, "finished_at")));
  add("duration", format_duration(text_of(b, "started_at"), text_of(b, "finished_at")));
  add("attempts", text_of(b, "attempts"));
  add("error", text_of(b, "error"));
  print_fields(std::cout, f);
  std::cout << '\n';
  print_stages(b);
}

// The build record's id: the API's record has no id field, the caller knows it.
json get_build(command_env& env, const std::string& id) {
  return env.api().get("/builds/" + segment(id)).body;
}

}  // namespace

int follow_build(command_env& env, const std::string& id, bool follow) {
  api_client& api = env.api();
  const std::string path = "/api/v1/builds/" + segment(id) + "/events";
  std::string last_event_id;
  long long last_seq = 0;
  std::optional<int> outcome;
  auto last_contact = std::chrono::steady_clock::now();
  std::chrono::milliseconds backoff{250};
  bool connected_once = false;  // kiwid answered at least once

  while (!outcome) {
    sse_parser parser;
    header_list headers;
    if (!last_event_id.empty()) {
      headers.emplace_back("Last-Event-ID", last_event_id);
    }
    http_client::stream_result result;
    try {
      result = api.http().stream(
          path, headers,
          [&](std::string_view bytes) {
            last_contact = std::chrono::steady_clock::now();
            connected_once = true;
            backoff = std::chrono::milliseconds(250);
            for (const sse_event& e : parser.feed(bytes)) {
              if (!e.id.empty()) {
                last_event_id = e.id;
              }
              json ev = json::parse(e.data, nullptr, false);
              if (ev.is_discarded() || !ev.is_object()) {
                continue;  // not an event of docs/events.md
              }
              const long long seq = ev.value("seq", 0LL);
              if (seq != 0 && seq <= last_seq) {
                continue;  // already shown before a reconnect
              }
              last_seq = std::max(last_seq, seq);
              if (env.json_output) {
                std::cout << e.data << '\n';
              } else {
                std::cout << event_line(ev) << '\n';
              }
              std::cout.flush();
              const std::string type = ev.value("type", e.type);
              if (final_event(type)) {
                outcome = outcome_code(type);
                return false;
              }
            }
            return !parser.overflowed();
          },
          stream_idle_timeout);
    } catch (const unreachable_error&) {
      if (!connected_once ||
          std::chrono::steady_clock::now() - last_contact > reconnect_give_up) {
        throw;
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      continue;
    }
    connected_once = true;
    const http_reply& reply = result.reply;
    if (reply.status >= 300) {
      api_reply r;
      r.status = reply.status;
      r.raw = reply.body;
      r.body = json::parse(r.raw, nullptr, false);
      if (r.body.is_discarded()) {
        r.body = nullptr;
      }
      fail_with(r);
    }
    if (reply.content_type.find("text/event-stream") == std::string::npos) {
      throw command_failure(exit_code::api_error,
                            "error: kiwid did not answer " + path +
                                " with an event stream (Content-Type: " + reply.content_type +
                                ")");
    }
    if (outcome) {
      break;
    }
    if (result.ended_cleanly) {
      // The server ends the stream after the final event. An end without one is kiwid going
      // away (the body ends with the connection) or a stream that lost its final event: the
      // record says which.
      try {
        const json b = get_build(env, id);
        const std::string status = text_of(b, "status");
        if (final_status(status)) {
          if (!env.json_output) {
            std::cout << "build " << id << " " << status << '\n';
          }
          return outcome_code(status);
        }
        if (!follow) {
          return 0;
        }
      } catch (const unreachable_error&) {
        // Restarting, most likely: reconnect below.
      }
    }
    // Dropped or silent: reconnect from the last event seen.
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    if (std::chrono::steady_clock::now() - last_contact > reconnect_give_up) {
      throw unreachable_error("lost the event stream of build " + id + " at " +
                                  api.http().where().url + " for over a minute",
                              unreachable_error::step::transfer, true);
    }
  }
  return *outcome;
}

int build_command(command_env& env, const std::vector<std::string>& all) {
  auto [verb, args] = split_verb(all);
  if (verb == "start") {
    arguments a = env.parse(args, {{"branch", true}, {"commit", true}, {"follow", false, 'f'}});
    const std::string name = one_name(a, "service name");
    if (a.has("branch") && a.has("commit")) {
      throw usage_error("give --branch or --commit, not both");
    }
    json body = json::object();
    if (auto b = a.get("branch")) body["branch"] = *b;
    if (auto c = a.get("commit")) body["commit"] = *c;
    api_reply r = env.api().post("/services/" + segment(name) + "/builds", body);
    const std::string id = text_of(r.body, "build_id");
    if (env.json_output) {
      if (!a.flag("follow").value_or(false)) {
        env.printed_json(r);
        return 0;
      }
    } else {
      std::cout << "build " << id << " (#" << text_of(r.body, "number") << ") of " << name
                << " queued at " << text_of(r.body, "sha").substr(0, 12) << '\n';
    }
    if (a.flag("follow").value_or(false)) {
      return follow_build(env, id, true);
    }
    return 0;
  }
  if (verb == "list") {
    arguments a = env.parse(args, {{"limit", true}, {"offset", true}});
    const std::string name = one_name(a, "service name");
    std::string query = "?limit=" + std::to_string(a.number("limit").value_or(20));
    if (auto o = a.number("offset")) {
      query += "&offset=" + std::to_string(*o);
    }
    api_reply r = env.api().get("/services/" + segment(name) + "/builds" + query);
    if (env.printed_json(r)) {
      return 0;
    }
    std::vector<table_row> rows;
    for (const auto& b : r.body.value("items", json::array())) {
      std::string ref = text_of(b, "branch");
      if (ref.empty()) ref = text_of(b, "tag");
      if (ref.empty()) ref = text_of(b, "ref");
      rows.push_back({text_of(b, "build_id").empty() ? text_of(b, "id") : text_of(b, "build_id"),
                      text_of(b, "number"), text_of(b, "status"), ref,
                      text_of(b, "sha").substr(0, 12), text_of(b, "trigger"),
                      format_unix_ms(text_of(b, "queued_at"))});
    }
    print_table(std::cout, {"BUILD", "#", "STATUS", "REF", "SHA", "TRIGGER", "QUEUED"}, rows);
    if (r.body.contains("next_offset")) {
      std::cout << "(more: --offset " << text_of(r.body, "next_offset") << ")\n";
    }
    return 0;
  }
  if (verb == "show") {
    arguments a = env.parse(args, {});
    const std::string id = one_name(a, "build id");
    api_reply r = env.api().get("/builds/" + segment(id));
    if (env.printed_json(r)) {
      return 0;
    }
    json b = r.body;
    if (!b.contains("build_id")) {
      b["build_id"] = id;
    }
    print_build(b);
    return 0;
  }
  if (verb == "cancel") {
    arguments a = env.parse(args, {});
    const std::string id = one_name(a, "build id");
    api_reply r = env.api().post("/builds/" + segment(id) + "/cancel", json::object());
    if (env.printed_json(r)) {
      return 0;
    }
    const std::string status = text_of(r.body, "status");
    if (status == "cancelling") {
      std::cout << "build " << id << " cancelling (it is running; it stops within 2 s)\n";
    } else {
      std::cout << "build " << id << " " << status << '\n';
    }
    return 0;
  }
  if (verb == "logs") {
    arguments a = env.parse(args, {{"follow", false, 'f'}});
    const std::string id = one_name(a, "build id");
    if (a.flag("follow").value_or(false)) {
      return follow_build(env, id, true);
    }
    api_reply r = env.api().get("/builds/" + segment(id));
    const std::string status = text_of(r.body, "status");
    if (final_status(status)) {
      // A finished build's stream is its stored events, then the end.
      try {
        follow_build(env, id, false);
        return 0;
      } catch (const command_failure&) {
        // No event stream on this server: the stages from the record instead.
      }
    }
    if (env.printed_json(r)) {
      return 0;
    }
    std::cout << "build " << id << ": " << status << '\n';
    print_stages(r.body);
    if (!final_status(status)) {
      std::cout << "(not finished: kiwictl build logs " << id << " -f follows it)\n";
    }
    return 0;
  }
  env.parse(args, {});
  throw usage_error(verb.empty() ? "build: which subcommand?"
                                 : "build: unknown subcommand \"" + verb + "\"");
}

}  // namespace kiwi::cli
