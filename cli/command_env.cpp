// What every kiwictl command shares: global options, the API connection, files, names.
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

namespace kiwi::cli {

using json = nlohmann::json;

namespace {

constexpr std::string_view default_url = "http://127.0.0.1:8080";

const option_spec global_options[] = {
    {"output", true, 'o'}, {"url", true}, {"token-file", true}, {"help", false, 'h'}};

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
std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace kiwi::cli
