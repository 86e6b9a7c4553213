// kiwictl service ...: list, show, register (flags, file or the wizard), update, test, delete.

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/terminal.hpp"
#include "common/config/resources.hpp"

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

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

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

std::string dockerfile_text(const json& d) {
  const std::string mode = text_of(d, "mode");
  if (mode == "path") {
    return "path " + text_of(d, "path") + " (context " + text_of(d, "context") + ")";
  }
  if (mode == "wizard") {
    std::string lang = text_of(d, "language");
    std::string fw = text_of(d, "framework");
    return "wizard (" + (lang.empty() ? std::string("language detected") : lang) +
           (fw.empty() ? "" : ", " + fw) + ")";
  }
  return mode.empty() ? "auto" : mode;
}

void print_service(const json& s) {
  auto secret = [&](const char* key) {
    return s.contains(key) && !s[key].is_null() ? text_of(s, key) : std::string("(none)");
  };
  std::vector<std::pair<std::string, std::string>> f = {
      {"name", text_of(s, "name")},
      {"source", text_of(s, "source")},
      {"git_url", text_of(s, "git_url")},
      {"branch", text_of(s, "branch")},
      {"token", secret("token")},
      {"git_username", text_of(s, "git_username")},
      {"webhook_secret", secret("webhook_secret")},
      {"build_tags", text_of(s, "build_tags")},
      {"cancel_superseded", text_of(s, "cancel_superseded")},
      {"max_concurrent_builds", text_of(s, "max_concurrent_builds")},
      {"dockerfile", dockerfile_text(s.value("dockerfile", json::object()))},
      {"registry", text_of(s, "registry").empty() ? "(none: build only)" : text_of(s, "registry")},
      {"image", text_of(s, "image")},
      {"tag_rule", text_of(s, "tag_rule")},
      {"build_runtime", text_of(s, "build_runtime")},
  };
  if (s.contains("ssh_key")) {
    f.insert(f.begin() + 5, {"ssh_key", secret("ssh_key")});
  }
  if (s.contains("webhook_url")) {
    f.emplace_back("webhook_url.github", text_of(s["webhook_url"], "github"));
    f.emplace_back("webhook_url.gitlab", text_of(s["webhook_url"], "gitlab"));
  }
  print_fields(std::cout, f);
}

// The connection test's answer: the branches, the configured one marked. 0 when it passed.
int print_connection_test(const api_reply& r, const std::string& branch) {
  if (r.status >= 300 || !r.body.value("ok", false)) {
    const std::string kind = text_of(r.body, "kind");
    std::cout << "connection test failed" << (kind.empty() ? "" : " (" + kind + ")") << ": "
              << text_of(r.body, "error") << '\n';
    return to_int(exit_code::api_error);
  }
  const auto branches = r.body.value("branches", json::array());
  std::cout << "connection ok: " << branches.size() << " branch"
            << (branches.size() == 1 ? "" : "es") << ", default "
            << text_of(r.body, "default_branch") << '\n';
  for (const auto& b : branches) {
    const std::string name = b.is_string() ? b.get<std::string>() : b.dump();
    std::cout << (name == branch ? "  * " : "    ") << name << '\n';
  }
  if (!branch.empty() && !r.body.value("branch_exists", true)) {
    std::cout << "the branch \"" << branch << "\" does not exist in the repository\n";
    return to_int(exit_code::api_error);
  }
  return 0;
}

// `kiwictl service register` without options: the questions of the web form, on the terminal.
int register_wizard(command_env& env) {
  terminal term;
  api_client& api = env.api();
  // Reachable, and the token good, before any question (the registries are offered later).
  std::string registries;
  api_reply regs = api.get("/registries");
  for (const auto& r : regs.body.value("items", json::array())) {
    registries += (registries.empty() ? "" : ", ") + text_of(r, "name");
  }
  std::cout << "Register a service with kiwid at " << api.http().where().url
            << " (Enter keeps the [default]).\n";
  json s = json::object();

  std::string name;
  for (int attempt = 0;; ++attempt) {
    name = term.ask("Service name (e.g. user-api)");
    if (kiwi::is_dns1123_label(name)) {
      break;
    }
    std::cout << "  \"" << name << "\" is not a DNS-1123 label: 1-63 lowercase letters, digits "
              << "and '-', starting and ending with a letter or digit\n";
    if (attempt == 2) {
      throw input_error("no valid service name");
    }
  }
  s["name"] = name;
  s["git_url"] = term.ask("Git URL (https://, ssh://, git:// or file://)");
  std::string branch = term.ask("Branch", "main");
  s["branch"] = branch;
  const std::string token = term.ask_secret("Access token (empty: anonymous)");
  if (!token.empty()) {
    s["token"] = token;
    const std::string git_url = s["git_url"].get<std::string>();
    s["git_username"] = term.ask(
        "Git user sent with the token",
        git_url.find("github") != std::string::npos ? "x-access-token" : "oauth2");
  }

  std::cout << "Testing the connection...\n";
  json probe = s;
  api_reply test = api.call_raw("POST", "/services/test-connection", &probe);
  if (test.status >= 300 && !test.body.contains("ok")) {
    fail_with(test);  // a validation error (422 with a field) or a server error
  }
  if (print_connection_test(test, branch) != 0) {
    if (test.body.value("ok", false)) {
      // Reachable, but the branch is not there: pick one that is.
      const std::string fallback = text_of(test.body, "default_branch");
      branch = term.ask("Branch", fallback);
      s["branch"] = branch;
    } else if (!term.confirm("Register it anyway?", false)) {
      std::cout << "nothing registered\n";
      return to_int(exit_code::api_error);
    }
  }

  const std::string mode = term.choose("Dockerfile", {"auto", "path", "wizard"}, "auto");
  json d{{"mode", mode}};
  if (mode == "path") {
    d["path"] = term.ask("Dockerfile path in the repository", "Dockerfile");
    d["context"] = term.ask("Build context", ".");
  } else if (mode == "wizard") {
    const std::string lang =
        term.choose("Language", {"detect", "node", "python", "java", "go"}, "detect");
    if (lang != "detect") {
      d["language"] = lang;
    }
    if (auto fw = term.ask("Framework (e.g. express, flask; empty: none)"); !fw.empty()) {
      d["framework"] = fw;
    }
  }
  s["dockerfile"] = d;

  const std::string registry =
      term.ask("Registry to push to (" + (registries.empty() ? "none registered" : registries) +
                   "; empty: build only)");
  if (!registry.empty()) {
    s["registry"] = registry;
    s["image"] = term.ask("Image repository", "library/" + name);
    s["tag_rule"] = term.ask("Tag rule", "${BRANCH}-${SHORT_SHA}");
  }
  s["build_runtime"] = term.ask("Build runtime (local, or a kubernetes runtime)", "local");

  std::cout << "\nService to register:\n";
  json shown = s;
  if (shown.contains("token")) {
    shown["token"] = "***";
  }
  print_service(shown);
  if (!term.confirm("Register it?", true)) {
    std::cout << "nothing registered\n";
    return to_int(exit_code::api_error);
  }
  api_reply r = api.post("/services", s);
  std::cout << "service " << text_of(r.body, "name") << " registered\n";
  if (r.body.contains("webhook_url")) {
    std::cout << "webhook URLs: " << text_of(r.body["webhook_url"], "github") << " (GitHub), "
              << text_of(r.body["webhook_url"], "gitlab") << " (GitLab)\n";
  }
  std::cout << "next: kiwictl webhook show " << name << "   (the secret and the steps)\n";
  return 0;
}

// The preview's facts, then the Dockerfile (and the wizard's .dockerignore) as they are.
void print_dockerfile_preview(const json& p) {
  field_block f;
  f.add("service", text_of(p, "service"));
  f.add("ref", text_of(p, "ref"));
  f.add("commit", text_of(p, "sha"));
  f.add("mode", text_of(p, "mode"));
  f.add("dockerfile", text_of(p, "dockerfile_path"));
  f.add("context", text_of(p, "context"));
  f.add("generated by", text_of(p, "generated_by"));
  if (p.contains("detected") && p["detected"].is_object()) {
    const json& d = p["detected"];
    f.add("detected", text_of(d, "language") + "/" + text_of(d, "framework") + " via " +
                        text_of(d, "package_manager"));
  }
  f.print(std::cout);
  auto block = [](const std::string& title, std::string text) {
    if (!text.empty() && text.back() != '\n') {
      text += '\n';
    }
    std::cout << "\n--- " << title << " ---\n" << text;
  };
  block(text_of(p, "dockerfile_path"), text_of(p, "dockerfile"));
  if (p.contains("dockerignore")) {
    block(p.value("repository_dockerignore", false)
              ? ".dockerignore (generated; the repository's own is used instead)"
              : ".dockerignore (generated)",
          text_of(p, "dockerignore"));
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
