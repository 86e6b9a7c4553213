// kiwictl queue (the scheduler's state) and kiwictl token ... (API tokens).
#include "cli/commands.hpp"

#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/output.hpp"

namespace kiwi::cli {

using json = nlohmann::json;

// --- queue -----------------------------------------------------------------------------------

int queue_command(command_env& env, const std::vector<std::string>& args) {
  arguments a = env.parse(args, {});
  if (!a.positionals().empty()) {
    throw usage_error("queue takes no arguments");
  }
  api_reply r = env.api().get("/queue");
  if (env.printed_json(r)) {
    return 0;
  }
  const json& b = r.body;
  std::cout << "running: " << text_of(b, "running") << "  retrying: " << text_of(b, "retrying")
            << "  dead letters: " << text_of(b, "dead_letters") << '\n';
  std::string outcomes;
  const json counters = b.value("outcomes", json::object());
  for (const auto& [k, v] : counters.items()) {
    outcomes += (outcomes.empty() ? "" : "  ") + k + ": " + v.dump();
  }
  std::cout << "outcomes: " << (outcomes.empty() ? "(none yet)" : outcomes) << '\n';
  std::vector<table_row> rows;
  const json waiting = b.value("waiting", json::object());
  for (const auto& [k, v] : waiting.items()) {
    rows.push_back({k, v.dump()});
  }
  std::cout << '\n';
  print_table(std::cout, {"SERVICE", "WAITING"}, rows);
  return 0;
}

// --- tokens ----------------------------------------------------------------------------------

int token_command(command_env& env, const std::vector<std::string>& all) {
  auto [verb, args] = split_verb(all);
  if (verb == "create") {
    arguments a = env.parse(args, {{"role", true}});
    const std::string name = one_name(a, "token name");
    if (!a.has("role")) {
      throw usage_error("token create needs --role admin, deployer, developer or viewer");
    }
    api_reply r = env.api().post("/tokens", json{{"name", name}, {"role", *a.get("role")}});
    if (env.printed_json(r)) {
      return 0;
    }
    std::cout << "token " << name << " (" << text_of(r.body, "role")
              << ") created; it is shown once, store it now:\n"
              << text_of(r.body, "token") << '\n';
    return 0;
  }
  if (verb == "list") {
    arguments a = env.parse(args, {});
    api_reply r = env.api().get("/tokens");
    if (env.printed_json(r)) {
      return 0;
    }
    std::vector<table_row> rows;
    for (const auto& t : r.body.value("items", json::array())) {
      rows.push_back({text_of(t, "name"), text_of(t, "role"), text_of(t, "created_at")});
    }
    print_table(std::cout, {"NAME", "ROLE", "CREATED"}, rows);
    return 0;
  }
  if (verb == "delete") {
    arguments a = env.parse(args, {});
    const std::string name = one_name(a, "token name");
    api_reply r = env.api().del("/tokens/" + segment(name));
    if (!env.printed_json(r)) {
      std::cout << "token " << name << " deleted\n";
    }
    return 0;
  }
  env.parse(args, {});
  throw usage_error(verb.empty() ? "token: which subcommand?"
                                 : "token: unknown subcommand \"" + verb + "\"");
}
}  // namespace kiwi::cli
