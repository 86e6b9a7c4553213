// `kiwictl service register` without options: the questions of the web form, on the terminal.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/service_view.hpp"
#include "cli/terminal.hpp"
#include "common/config/resources.hpp"

namespace kiwi::cli {

using json = nlohmann::json;

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

}  // namespace kiwi::cli
