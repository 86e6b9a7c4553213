// kiwictl service ...: list, show, register (flags, file or the wizard), update, test, delete.

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/service_view.hpp"

namespace kiwi::cli {

using json = nlohmann::json;

namespace {

// The options of register and update.
constexpr option_spec service_options[] = {
    {"name", true},           {"git-url", true},           {"branch", true},
    {"token-file", true},     {"git-username", true},      {"ssh-key-file", true},
    {"webhook-secret-file", true}, {"build-tags", false},
    {"cancel-superseded", false}, {"max-concurrent-builds", true}, {"dockerfile-mode", true},
    {"dockerfile-path", true}, {"dockerfile-context", true}, {"language", true},
    {"framework", true},      {"registry", true},          {"image", true},
    {"tag-rule", true},       {"build-runtime", true},     {"from-file", true}};

// What the API shows but does not take back.
void strip_read_only(json& j) {
  j.erase("source");
  j.erase("webhook_url");
}

// A service file: as `service show -o json` prints it, or the config file's form (token_file and
// ssh_key_file are read, relative to the file, and sent inline: the API takes no paths).
json service_file(const std::string& path) {
  json j = read_json_file(path);
  strip_read_only(j);
  const auto dir = std::filesystem::path(path).parent_path();
  for (auto [file_key, key] : {std::pair{"token_file", "token"}, std::pair{"ssh_key_file", "ssh_key"}}) {
    if (j.contains(file_key) && j[file_key].is_string()) {
      std::filesystem::path p = j[file_key].get<std::string>();
      if (p.is_relative()) {
        p = dir / p;
      }
      std::string content = read_text_file(p.string(), file_key);
      j[key] = std::string_view(key) == "token" ? trim(content) : content;
      j.erase(file_key);
    }
  }
  return j;
}

// The flags on top of `j`.
void apply_service_flags(const arguments& a, json& j) {
  for (auto [flag, key] :
       {std::pair{"name", "name"}, std::pair{"git-url", "git_url"}, std::pair{"branch", "branch"},
        std::pair{"git-username", "git_username"}, std::pair{"registry", "registry"},
        std::pair{"image", "image"}, std::pair{"tag-rule", "tag_rule"},
        std::pair{"build-runtime", "build_runtime"}}) {
    if (auto v = a.get(flag)) {
      j[key] = *v;
    }
  }
  if (auto f = a.get("token-file")) {
    j["token"] = trim(read_text_file(*f, "token file"));
  }
  if (auto f = a.get("webhook-secret-file")) {
    j["webhook_secret"] = trim(read_text_file(*f, "webhook secret file"));
  }
  if (auto f = a.get("ssh-key-file")) {
    j["ssh_key"] = read_text_file(*f, "SSH key file");
  }
  if (auto v = a.flag("build-tags")) {
    j["build_tags"] = *v;
  }
  if (auto v = a.flag("cancel-superseded")) {
    j["cancel_superseded"] = *v;
  }
  if (auto n = a.number("max-concurrent-builds")) {
    j["max_concurrent_builds"] = *n;
  }
  // Dockerfile: the mode follows from the options when not given.
  const bool path_given = a.has("dockerfile-path") || a.has("dockerfile-context");
  const bool wizard_given = a.has("language") || a.has("framework");
  if (a.has("dockerfile-mode") || path_given || wizard_given) {
    const std::string mode =
        a.get_or("dockerfile-mode", path_given ? "path" : wizard_given ? "wizard" : "auto");
    json d{{"mode", mode}};
    if (mode == "path") {
      d["path"] = a.get_or("dockerfile-path", "Dockerfile");
      d["context"] = a.get_or("dockerfile-context", ".");
    } else if (mode == "wizard") {
      if (auto v = a.get("language")) d["language"] = *v;
      if (auto v = a.get("framework")) d["framework"] = *v;
    }
    j["dockerfile"] = d;
  }
}

}  // namespace

int service_command(command_env& env, const std::vector<std::string>& all) {
  auto [verb, args] = split_verb(all);
  if (verb == "list") {
    arguments a = env.parse(args, {});
    if (!a.positionals().empty()) {
      throw usage_error("service list takes no arguments");
    }
    api_reply r = env.api().get("/services");
    if (env.printed_json(r)) {
      return 0;
    }
    std::vector<table_row> rows;
    for (const auto& s : r.body.value("items", json::array())) {
      rows.push_back({text_of(s, "name"), text_of(s, "source"), text_of(s, "branch"),
                      text_of(s, "git_url"), text_of(s, "build_runtime"),
                      text_of(s, "registry")});
    }
    print_table(std::cout, {"NAME", "SOURCE", "BRANCH", "GIT URL", "RUNTIME", "REGISTRY"}, rows);
    return 0;
  }
  if (verb == "show") {
    arguments a = env.parse(args, {});
    api_reply r = env.api().get("/services/" + segment(one_name(a, "service name")));
    if (!env.printed_json(r)) {
      print_service(r.body);
    }
    return 0;
  }
  if (verb == "test") {
    arguments a = env.parse(args, {});
    const std::string name = one_name(a, "service name");
    api_reply r = env.api().call_raw("POST", "/services/" + segment(name) + "/test-connection",
                                     nullptr);
    if (r.status >= 300 && !r.body.contains("ok")) {
      fail_with(r);  // 404 and the like
    }
    if (env.json_output) {
      env.printed_json(r);
      return r.body.value("ok", false) && r.body.value("branch_exists", true)
                 ? 0
                 : to_int(exit_code::api_error);
    }
    std::string branch;
    if (r.body.value("ok", false)) {
      branch = text_of(env.api().get("/services/" + segment(name)).body, "branch");
    }
    return print_connection_test(r, branch);
  }
  if (verb == "delete") {
    arguments a = env.parse(args, {});
    const std::string name = one_name(a, "service name");
    api_reply r = env.api().del("/services/" + segment(name));
    if (!env.printed_json(r)) {
      std::cout << "service " << name << " deleted\n";
    }
    return 0;
  }
  if (verb == "register") {
    arguments a = env.parse(args, service_options);
    if (!a.positionals().empty()) {
      throw usage_error("service register takes options (--name ...), not \"" +
                        a.positionals()[0] + "\"");
    }
    if (!command_env::has_own_options(a)) {
      return register_wizard(env);
    }
    json s = a.has("from-file") ? service_file(*a.get("from-file")) : json::object();
    apply_service_flags(a, s);
    for (const char* key : {"name", "git_url", "branch"}) {
      if (!s.contains(key)) {
        throw usage_error(std::string("service register needs --") +
                          (std::string_view(key) == "git_url" ? "git-url" : key) +
                          " (or --from-file, or no options at all for the wizard)");
      }
    }
    api_reply r = env.api().post("/services", s);
    if (env.printed_json(r)) {
      return 0;
    }
    std::cout << "service " << text_of(r.body, "name") << " registered\n";
    if (r.body.contains("webhook_url")) {
      std::cout << "webhook URLs: " << text_of(r.body["webhook_url"], "github") << " (GitHub), "
                << text_of(r.body["webhook_url"], "gitlab") << " (GitLab)\n";
    }
    return 0;
  }
  if (verb == "update") {
    arguments a = env.parse(args, service_options);
    const std::string name = one_name(a, "service name");
    json s;
    if (a.has("from-file")) {
      s = service_file(*a.get("from-file"));
    } else {
      if (!command_env::has_own_options(a)) {
        throw usage_error("service update " + name + " needs options to change (or --from-file)");
      }
      s = env.api().get("/services/" + segment(name)).body;  // secrets come back as "***": kept
      strip_read_only(s);
    }
    apply_service_flags(a, s);
    if (s.contains("name") && s["name"] != name) {
      throw usage_error("a service cannot be renamed; delete it and register it anew");
    }
    s["name"] = name;
    api_reply r = env.api().put("/services/" + segment(name), s);
    if (!env.printed_json(r)) {
      std::cout << "service " << name << " updated\n";
    }
    return 0;
  }
  if (verb == "dockerfile-preview") {
    arguments a = env.parse(args, {{"ref", true}, {"mode", true}, {"language", true},
                                   {"framework", true}});
    const std::string name = one_name(a, "service name");
    std::string query;
    for (const char* key : {"ref", "mode", "language", "framework"}) {
      if (auto v = a.get(key)) {
        query += (query.empty() ? "?" : "&") + std::string(key) + "=" + segment(*v);
      }
    }
    api_reply r = env.api().get("/services/" + segment(name) + "/dockerfile/preview" + query);
    if (!env.printed_json(r)) {
      print_dockerfile_preview(r.body);
    }
    return 0;
  }
  env.parse(args, {});
  throw usage_error(verb.empty() ? "service: which subcommand?"
                                 : "service: unknown subcommand \"" + verb + "\"");
}

}  // namespace kiwi::cli
