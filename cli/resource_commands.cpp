// kiwictl registry ... and runtime ...: list, show, create, delete, test.
#include "cli/commands.hpp"

#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/output.hpp"

namespace kiwi::cli {

using json = nlohmann::json;

// --- registry and runtime --------------------------------------------------------------------

namespace {

// `{"name":..,"url":..}` from the flags, on top of --from-file's JSON.
json registry_from(const arguments& a) {
  json j = a.has("from-file") ? read_json_file(*a.get("from-file")) : json::object();
  j.erase("source");
  for (const char* key : {"name", "url", "username"}) {
    if (auto v = a.get(key)) {
      j[key] = *v;
    }
  }
  if (auto f = a.get("password-file")) {
    j["password"] = trim(read_text_file(*f, "password file"));
  }
  if (j.contains("password_file") && j["password_file"].is_string()) {
    j["password"] = trim(read_text_file(j["password_file"].get<std::string>(), "password_file"));
    j.erase("password_file");
  }
  if (auto v = a.flag("insecure")) {
    j["insecure"] = *v;
  }
  return j;
}

json runtime_from(const arguments& a) {
  json j = a.has("from-file") ? read_json_file(*a.get("from-file")) : json::object();
  j.erase("source");
  for (auto [flag, key] : {std::pair{"name", "name"}, std::pair{"type", "type"},
                           std::pair{"api-url", "api_url"},
                           std::pair{"namespace", "namespace"}, std::pair{"socket", "socket"},
                           std::pair{"url", "url"}}) {
    if (auto v = a.get(flag)) {
      j[key] = *v;
    }
  }
  // Files are read here: the API takes contents, not paths.
  for (auto [flag, key] : {std::pair{"token-file", "token"}, std::pair{"ca-file", "ca_cert"},
                           std::pair{"tls-ca-file", "tls_ca_cert"},
                           std::pair{"tls-cert-file", "tls_cert"},
                           std::pair{"tls-key-file", "tls_key"}}) {
    if (auto f = a.get(flag)) {
      std::string content = read_text_file(*f, flag);
      j[key] = std::string_view(key) == "token" ? trim(content) : content;
    }
  }
  for (auto [file_key, key] : {std::pair{"token_file", "token"}, std::pair{"ca_file", "ca_cert"}}) {
    if (j.contains(file_key) && j[file_key].is_string()) {
      std::string content = read_text_file(j[file_key].get<std::string>(), file_key);
      j[key] = std::string_view(key) == "token" ? trim(content) : content;
      j.erase(file_key);
    }
  }
  return j;
}

void print_resource_fields(const json& j) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& [k, v] : j.items()) {
    std::string value = v.is_string() ? v.get<std::string>() : v.dump();
    if (k == "ca_cert" || k == "tls_ca_cert" || k == "tls_cert") {
      value = value.empty() ? "" : "(PEM, " + std::to_string(value.size()) + " bytes)";
    }
    fields.emplace_back(k, value);
  }
  print_fields(std::cout, fields);
}

// The answer of a .../test route, which the server may not have yet: its error is printed.
int print_test_result(command_env& env, const std::string& path, const std::string& what) {
  api_reply r = env.api().call_raw("POST", path, nullptr);
  if (env.json_output) {
    env.printed_json(r);
    return r.status < 300 && r.body.value("ok", true) ? 0 : to_int(exit_code::api_error);
  }
  if (r.status >= 300 || (r.body.is_object() && !r.body.value("ok", true))) {
    if (r.body.is_object() && r.body.contains("kind")) {
      std::cerr << what << ": test failed (" << text_of(r.body, "kind") << ")\n";
    }
    fail_with(r);
  }
  std::cout << what << ": ok";
  if (auto m = text_of(r.body, "message"); !m.empty()) {
    std::cout << " (" << m << ")";
  }
  std::cout << '\n';
  return 0;
}

int simple_resource_command(command_env& env, const std::vector<std::string>& all, bool registry) {
  auto [verb, args] = split_verb(all);
  const std::string plural = registry ? "/registries" : "/runtimes";
  const std::string kind = registry ? "registry" : "runtime";
  if (verb == "list") {
    arguments a = env.parse(args, {});
    if (!a.positionals().empty()) {
      throw usage_error(kind + " list takes no arguments");
    }
    api_reply r = env.api().get(plural);
    if (env.printed_json(r)) {
      return 0;
    }
    std::vector<table_row> rows;
    for (const auto& item : r.body.value("items", json::array())) {
      if (registry) {
        rows.push_back({text_of(item, "name"), text_of(item, "source"), text_of(item, "url"),
                        text_of(item, "username"), text_of(item, "insecure")});
      } else {
        std::string where = text_of(item, "api_url");
        if (where.empty()) where = text_of(item, "socket");
        if (where.empty()) where = text_of(item, "url");
        rows.push_back({text_of(item, "name"), text_of(item, "source"), text_of(item, "type"),
                        where, text_of(item, "namespace")});
      }
    }
    if (registry) {
      print_table(std::cout, {"NAME", "SOURCE", "URL", "USERNAME", "INSECURE"}, rows);
    } else {
      print_table(std::cout, {"NAME", "SOURCE", "TYPE", "ENDPOINT", "NAMESPACE"}, rows);
    }
    return 0;
  }
  if (verb == "show") {
    arguments a = env.parse(args, {});
    api_reply r = env.api().get(plural + "/" + segment(one_name(a, kind.c_str())));
    if (!env.printed_json(r)) {
      print_resource_fields(r.body);
    }
    return 0;
  }
  if (verb == "create") {
    arguments a = registry
                      ? env.parse(args, {{"name", true}, {"url", true}, {"username", true},
                                         {"password-file", true},
                                         {"insecure", false}, {"from-file", true}})
                      : env.parse(args, {{"name", true}, {"type", true}, {"api-url", true},
                                         {"token-file", true},
                                         {"ca-file", true}, {"namespace", true},
                                         {"socket", true}, {"url", true},
                                         {"tls-ca-file", true}, {"tls-cert-file", true},
                                         {"tls-key-file", true}, {"from-file", true}});
    if (!a.positionals().empty()) {
      throw usage_error(kind + " create takes options only (--name ...), not \"" +
                        a.positionals()[0] + "\"");
    }
    json body = registry ? registry_from(a) : runtime_from(a);
    if (!body.contains("name")) {
      throw usage_error(kind + " create needs --name (or --from-file)");
    }
    api_reply r = env.api().post(plural, body);
    if (!env.printed_json(r)) {
      std::cout << kind << " " << text_of(r.body, "name") << " created\n";
    }
    return 0;
  }
  if (verb == "delete") {
    arguments a = env.parse(args, {});
    const std::string name = one_name(a, kind.c_str());
    api_reply r = env.api().del(plural + "/" + segment(name));
    if (!env.printed_json(r)) {
      std::cout << kind << " " << name << " deleted\n";
    }
    return 0;
  }
  if (verb == "test") {
    arguments a = env.parse(args, {});
    const std::string name = one_name(a, kind.c_str());
    return print_test_result(env, plural + "/" + segment(name) + "/test", kind + " " + name);
  }
  env.parse(args, {});  // --help
  throw usage_error(verb.empty() ? kind + ": which subcommand?"
                                 : kind + ": unknown subcommand \"" + verb + "\"");
}

}  // namespace

int registry_command(command_env& env, const std::vector<std::string>& args) {
  return simple_resource_command(env, args, true);
}

int runtime_command(command_env& env, const std::vector<std::string>& args) {
  return simple_resource_command(env, args, false);
}
}  // namespace kiwi::cli
