#include "cli/commands.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/output.hpp"
#include "cli/usage.hpp"

namespace kiwi::cli {

using json = nlohmann::json;

namespace {

constexpr std::string_view default_url = "http://127.0.0.1:8080";

const option_spec global_options[] = {
    {"output", true, 'o'}, {"url", true}, {"token-file", true}, {"help", false, 'h'}};

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::string env_or(const char* name, std::string_view fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

}  // namespace

// --- shared helpers --------------------------------------------------------------------------

namespace {

// A secret given as an argument is visible to every user of the machine (ps, /proc/PID/cmdline)
// and lands in shell histories: kiwictl takes secrets only from files and the environment.
void refuse_secret_arguments(const std::vector<std::string>& args,
                             std::span<const option_spec> own) {
  const auto own_has = [&](std::string_view name) {
    return std::any_of(own.begin(), own.end(), [&](const option_spec& o) { return o.name == name; });
  };
  for (const std::string& a : args) {
    if (a == "--") {
      return;
    }
    for (std::string_view secret : {"token", "password", "webhook-secret"}) {
      const std::string flag = "--" + std::string(secret);
      if (a != flag && !a.starts_with(flag + "=")) {
        continue;
      }
      const std::string file_flag = flag + "-file";
      std::string instead;
      if (own_has(file_flag.substr(2))) {
        instead = "use " + file_flag + " FILE (a file only you can read)";
        if (secret == "token" && own_has("git-url")) {
          instead += ", or the wizard (kiwictl service wizard), which asks for it";
        }
      } else {
        instead = "for the API token use --token-file FILE or the environment variable "
                  "KIWI_TOKEN (or KIWI_TOKEN_FILE naming a file)";
      }
      throw usage_error(flag + " is not accepted: a secret on the command line is visible to "
                               "every user of this machine (ps) and stays in shell history; " +
                        instead);
    }
  }
}

}  // namespace

// The subcommand word and what follows it: the first argument that is not a global option
// (or a global option's value).
std::pair<std::string, std::vector<std::string>> split_verb(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-o" || a == "--output" || a == "--url" || a == "--token-file") {
      ++i;  // and its value
      continue;
    }
    if (!a.starts_with("-")) {
      std::vector<std::string> rest(args.begin(), args.end());
      rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i));
      return {a, rest};
    }
  }
  return {"", args};
}


arguments command_env::parse(const std::vector<std::string>& args,
                             std::span<const option_spec> own) {
  refuse_secret_arguments(args, own);
  std::vector<option_spec> spec(own.begin(), own.end());
  std::vector<std::string> globals_taken;
  for (const auto& g : global_options) {
    bool shadowed = false;
    for (const auto& o : own) {
      shadowed = shadowed || std::string_view(o.name) == g.name;
    }
    if (!shadowed) {
      spec.push_back(g);
      globals_taken.emplace_back(g.name);
    }
  }
  arguments a(args, spec);
  for (const auto& g : globals_taken) {
    if (!a.has(g)) {
      continue;
    }
    if (g == "help") {
      throw help_request{};
    }
    if (g == "output") {
      const std::string v = *a.get(g);
      if (v != "json" && v != "text") {
        throw usage_error("--output is json or text, not \"" + v + "\"");
      }
      json_output = v == "json";
    } else if (g == "url") {
      url = *a.get(g);
    } else if (g == "token-file") {
      token_file = *a.get(g);
    }
  }
  return a;
}

bool command_env::has_own_options(const arguments& a) {
  for (const auto& name : a.names()) {
    if (name != "output" && name != "url" && name != "help") {
      return true;
    }
  }
  return false;
}

api_client& command_env::api() {
  if (!api_) {
    if (url.empty()) {
      url = env_or("KIWI_URL", default_url);
    }
    auto where = parse_http_endpoint(url);
    if (!where || !where->socket_path.empty()) {
      throw usage_error("\"" + url + "\" is not a kiwid URL such as http://127.0.0.1:8080");
    }
    std::string token;
    if (!token_file.empty()) {
      token = trim(read_text_file(token_file, "token file"));
    } else if (const char* t = std::getenv("KIWI_TOKEN"); t != nullptr && *t != '\0') {
      token = trim(t);
    } else if (const char* f = std::getenv("KIWI_TOKEN_FILE"); f != nullptr && *f != '\0') {
      token = trim(read_text_file(f, "KIWI_TOKEN_FILE"));
    }
    http_options options;
    options.peer = "kiwid";
    options.hint = "is it running? (KIWI_URL sets where kiwictl looks)";
    options.tls_hint = "KIWI_CA_FILE names the CA that signed kiwid's certificate";
    options.user_agent = "kiwictl/0.1";
    if (const char* ca = std::getenv("KIWI_CA_FILE"); ca != nullptr && *ca != '\0') {
      options.tls.ca_file = ca;
    }
    http_ = std::make_unique<http_client>(std::move(*where), std::move(options));
    if (!token.empty()) {
      http_->set_default_headers({{"Authorization", "Bearer " + token}});
    }
    api_ = std::make_unique<api_client>(*http_);
  }
  return *api_;
}

bool command_env::printed_json(const api_reply& reply) const {
  if (!json_output) {
    return false;
  }
  std::cout << reply.raw;
  if (!reply.raw.ends_with('\n')) {
    std::cout << '\n';
  }
  return true;
}

std::string read_text_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw usage_error(std::string("cannot read the ") + what + " " + path);
  }
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) {
    throw usage_error(std::string("cannot read the ") + what + " " + path);
  }
  return s.str();
}

json read_json_file(const std::string& path) {
  const std::string text = read_text_file(path, "file");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw usage_error(path + " is not a JSON object");
  }
  return j;
}

std::string one_name(const arguments& a, const char* what) {
  if (a.positionals().size() != 1) {
    throw usage_error(std::string("give one ") + what +
                      (a.positionals().empty() ? "" : " (extra arguments)"));
  }
  return a.positionals()[0];
}

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

// --- webhook ---------------------------------------------------------------------------------

int webhook_command(command_env& env, const std::vector<std::string>& all) {
  auto [verb, args] = split_verb(all);
  if (verb == "show") {
    arguments a = env.parse(args, {});
    api_reply r = env.api().get("/services/" + segment(one_name(a, "service name")) + "/webhook");
    if (env.printed_json(r)) {
      return 0;
    }
    const json& b = r.body;
    for (const char* provider : {"github", "gitlab"}) {
      if (!b.contains(provider)) {
        continue;
      }
      const json& p = b[provider];
      std::cout << (std::string_view(provider) == "github" ? "GitHub" : "GitLab") << '\n';
      std::cout << "  payload URL:  " << text_of(p, "payload_url") << '\n';
      if (p.contains("content_type")) {
        std::cout << "  content type: " << text_of(p, "content_type") << '\n';
      }
      std::string events;
      for (const auto& e : p.value("events", json::array())) {
        events += (events.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump());
      }
      std::cout << "  events:       " << events << '\n';
      int n = 1;
      for (const auto& s : p.value("steps", json::array())) {
        std::cout << "  " << n++ << ". " << (s.is_string() ? s.get<std::string>() : s.dump())
                  << '\n';
      }
    }
    const std::string secret = text_of(b, "webhook_secret");
    std::cout << "webhook secret: "
              << (secret == "***" ? "*** (shown to admin tokens only)" : secret) << '\n';
    return 0;
  }
  if (verb == "install" || verb == "rotate") {
    arguments a = verb == "install" ? env.parse(args, {{"provider", true}, {"api-url", true}})
                                    : env.parse(args, {});
    const std::string name = one_name(a, "service name");
    const std::string path = "/services/" + segment(name) +
                             (verb == "install" ? "/webhook/install" : "/webhook/rotate-secret");
    json body = json::object();
    if (auto provider = a.get("provider")) {
      body["provider"] = *provider;
    }
    if (auto api_url = a.get("api-url")) {
      body["api_url"] = *api_url;
    }
    api_reply r = env.api().post(path, body);
    if (env.printed_json(r)) {
      return 0;
    }
    if (verb == "rotate") {
      std::cout << "new webhook secret of " << name << " (shown once): "
                << text_of(r.body, "webhook_secret") << '\n';
      if (auto next = text_of(r.body, "next"); !next.empty()) {
        std::cout << next << '\n';
      }
    } else {
      std::cout << "webhook of " << name << " installed";
      if (auto m = text_of(r.body, "message"); !m.empty()) {
        std::cout << ": " << m;
      }
      std::cout << '\n';
      if (r.body.is_object()) {
        for (const auto& [k, v] : r.body.items()) {
          if (k != "message") {
            std::cout << "  " << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump())
                      << '\n';
          }
        }
      }
    }
    return 0;
  }
  env.parse(args, {});
  throw usage_error(verb.empty() ? "webhook: which subcommand?"
                                 : "webhook: unknown subcommand \"" + verb + "\"");
}

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
      throw usage_error("token create needs --role admin, developer or viewer");
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

// --- main dispatch ---------------------------------------------------------------------------

int run_kiwictl(const std::vector<std::string>& args) {
  command_env env;
  std::string noun;
  try {
    // Global options before the command.
    std::size_t i = 0;
    std::vector<std::string> leading;
    while (i < args.size() && args[i].starts_with("-")) {
      leading.push_back(args[i]);
      const bool has_inline_value = args[i].find('=') != std::string::npos;
      const bool takes_value = args[i] == "--url" || args[i] == "--token-file" ||
                               args[i] == "--output" || args[i] == "-o";
      if (takes_value && !has_inline_value && i + 1 < args.size()) {
        leading.push_back(args[++i]);
      }
      ++i;
    }
    try {
      env.parse(leading, {});
    } catch (const help_request&) {
      std::cout << main_usage;
      return 0;
    }
    if (i == args.size()) {
      throw usage_error("which command?");
    }
    noun = args[i];
    const std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                        args.end());
    if (noun == "help") {
      std::cout << (rest.empty() ? main_usage : usage_of(rest[0]));
      return 0;
    }
    if (noun == "service") return service_command(env, rest);
    if (noun == "build") return build_command(env, rest);
    if (noun == "registry") return registry_command(env, rest);
    if (noun == "runtime") return runtime_command(env, rest);
    if (noun == "webhook") return webhook_command(env, rest);
    if (noun == "queue") return queue_command(env, rest);
    if (noun == "token") return token_command(env, rest);
    const std::string unknown = noun;
    noun.clear();
    throw usage_error("unknown command \"" + unknown + "\"");
  } catch (const help_request&) {
    std::cout << usage_of(noun);
    return 0;
  } catch (const input_error& e) {
    std::cout.flush();
    std::cerr << "kiwictl: " << e.what() << '\n';
    return to_int(exit_code::usage);
  } catch (const usage_error& e) {
    std::cout.flush();
    std::cerr << "kiwictl: " << e.what() << "\n\n" << usage_of(noun);
    return to_int(exit_code::usage);
  } catch (const command_failure& e) {
    std::cout.flush();
    if (*e.what() != '\0') {
      std::cerr << "kiwictl: " << e.what() << '\n';
    }
    return to_int(e.code);
  } catch (const unreachable_error& e) {
    std::cout.flush();
    std::cerr << "kiwictl: " << e.what() << '\n';
    return to_int(exit_code::unreachable);
  }
}

}  // namespace kiwi::cli
