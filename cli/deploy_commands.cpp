// kiwictl deploy ...: deploy a build to an environment, its history, rollback, one revision
// (docs/kiwictl.md, docs/deploy.md).
#include "cli/commands.hpp"

#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/output.hpp"

namespace kiwi::cli {

using json = nlohmann::json;

namespace {

std::string revision_line(const json& d) {
  std::string line = text_of(d, "environment") + " revision " + text_of(d, "revision") + ": " +
                     text_of(d, "status") + "  " + text_of(d, "image");
  if (d.contains("rollback_of") && d["rollback_of"].is_string()) {
    line += "  (rollback of " + d["rollback_of"].get<std::string>() + ")";
  }
  return line;
}

void print_revision(const json& d) {
  std::cout << revision_line(d) << '\n'
            << "id:       " << text_of(d, "id") << '\n'
            << "build:    " << text_of(d, "build_id") << '\n'
            << "trigger:  " << text_of(d, "trigger") << '\n'
            << "created:  " << text_of(d, "created_at") << '\n';
  if (!text_of(d, "message").empty()) {
    std::cout << "message:  " << text_of(d, "message") << '\n';
  }
  if (!text_of(d, "url").empty()) {
    std::cout << "url:      " << text_of(d, "url") << '\n';
  }
  for (const auto& line : d.value("diagnostics", json::array())) {
    std::cout << "  " << (line.is_string() ? line.get<std::string>() : line.dump()) << '\n';
  }
}

// The revisions of (service, env), newest first.
json history(command_env& env, const std::string& service, const std::string& environment) {
  return env.api()
      .get("/services/" + segment(service) + "/deployments?env=" + segment(environment))
      .body.value("items", json::array());
}

std::string required(const arguments& a, const char* option, const char* what) {
  if (!a.has(option)) {
    throw usage_error(std::string(what) + " needs --" + option);
  }
  return *a.get(option);
}

}  // namespace

int deploy_command(command_env& env, const std::vector<std::string>& all) {
  auto [verb, args] = split_verb(all);
  if (verb == "history") {
    arguments a = env.parse(args, {{"env", true}});
    const std::string service = one_name(a, "service name");
    const std::string environment = required(a, "env", "deploy history");
    const json items = history(env, service, environment);
    if (env.json_output) {
      std::cout << json{{"items", items}}.dump() << '\n';
      return 0;
    }
    std::vector<table_row> rows;
    for (const auto& d : items) {
      rows.push_back({text_of(d, "revision"), text_of(d, "status"), text_of(d, "trigger"),
                      text_of(d, "build_id"), text_of(d, "created_at"), text_of(d, "image")});
    }
    print_table(std::cout, {"REVISION", "STATUS", "TRIGGER", "BUILD", "CREATED", "IMAGE"}, rows);
    return 0;
  }
  if (verb == "rollback") {
    arguments a = env.parse(args, {{"env", true}, {"to", true}});
    const std::string service = one_name(a, "service name");
    const std::string environment = required(a, "env", "deploy rollback");
    const json items = history(env, service, environment);
    if (items.empty()) {
      throw command_failure(exit_code::api_error,
                            service + " has no deployment in " + environment + " to roll back");
    }
    json body = json::object();
    if (a.has("to")) {
      try {
        body["to"] = std::stoull(*a.get("to"));
      } catch (const std::exception&) {
        throw usage_error("--to takes a revision number");
      }
    }
    api_reply r = env.api().post("/deployments/" + segment(text_of(items[0], "id")) + "/rollback",
                                 body);
    if (!env.printed_json(r)) {
      std::cout << "rollback queued: " << revision_line(r.body) << '\n';
    }
    return 0;
  }
  if (verb == "show") {
    arguments a = env.parse(args, {});
    api_reply r = env.api().get("/deployments/" + segment(one_name(a, "deployment id")));
    if (!env.printed_json(r)) {
      print_revision(r.body);
    }
    return 0;
  }
  // kiwictl deploy SERVICE --env E (--build ID | --image DIGEST)
  std::vector<std::string> rest = args;
  if (!verb.empty()) {
    rest.insert(rest.begin(), verb);
  }
  arguments a = env.parse(rest, {{"env", true}, {"build", true}, {"image", true}});
  const std::string service = one_name(a, "service name");
  json body{{"environment", required(a, "env", "deploy")}};
  if (a.has("build") == a.has("image")) {
    throw usage_error("deploy needs --build ID or --image sha256:..., one of the two");
  }
  if (a.has("build")) {
    body["build"] = *a.get("build");
  } else {
    body["image"] = *a.get("image");
  }
  api_reply r = env.api().post("/services/" + segment(service) + "/deployments", body);
  if (!env.printed_json(r)) {
    std::cout << "deploy queued: " << revision_line(r.body) << "\nid: " << text_of(r.body, "id")
              << '\n';
  }
  return 0;
}

}  // namespace kiwi::cli
