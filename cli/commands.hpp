#pragma once
// kiwictl's commands, one function per noun (service, build, ...). Each parses its own options
// (plus the global ones), calls the API and prints; the exit code is returned or thrown as a
// command_failure / usage_error (cli_error.hpp).

#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cli/api_client.hpp"
#include "cli/arguments.hpp"

namespace kiwi::cli {

// What every command shares: where kiwid is, the token, the output format.
class command_env {
 public:
  std::string url;         // KIWI_URL or --url
  std::string token_file;  // --token-file (else KIWI_TOKEN, else KIWI_TOKEN_FILE)
  bool json_output = false;

  // Parses `args` with the command's options plus the global ones it does not shadow
  // (--output/-o, --url, --token-file, --help/-h), and applies the globals.
  arguments parse(const std::vector<std::string>& args, std::span<const option_spec> own);
  arguments parse(const std::vector<std::string>& args, std::initializer_list<option_spec> own) {
    return parse(args, std::span<const option_spec>(own.begin(), own.size()));
  }
  // Whether options other than the global ones were given.
  static bool has_own_options(const arguments& a);

  // Connected lazily, on the first call.
  api_client& api();

  // Prints a read command's answer as-is with --output json; true when it did.
  bool printed_json(const api_reply& reply) const;

 private:
  std::unique_ptr<http_client> http_;
  std::unique_ptr<api_client> api_;
};

// Entry point: argv without the program name. Returns the exit code (cli_error.hpp).
int run_kiwictl(const std::vector<std::string>& args);

int service_command(command_env& env, const std::vector<std::string>& args);
int build_command(command_env& env, const std::vector<std::string>& args);
int registry_command(command_env& env, const std::vector<std::string>& args);
int runtime_command(command_env& env, const std::vector<std::string>& args);
int webhook_command(command_env& env, const std::vector<std::string>& args);
int queue_command(command_env& env, const std::vector<std::string>& args);
int token_command(command_env& env, const std::vector<std::string>& args);
int deploy_command(command_env& env, const std::vector<std::string>& args);

// `kiwictl service register` without options: asks on the terminal (service_wizard.cpp).
int register_wizard(command_env& env);

// Follows (or, when !follow, replays) a build's events; returns the exit code of its outcome.
int follow_build(command_env& env, const std::string& build_id, bool follow);

// Shared helpers.
// The subcommand word ("list", "show", ...) and the remaining arguments.
std::pair<std::string, std::vector<std::string>> split_verb(const std::vector<std::string>& args);
std::string read_text_file(const std::string& path, const char* what);  // usage_error if unreadable
nlohmann::json read_json_file(const std::string& path);                 // an object, or usage_error
std::string trim(const std::string& s);  // without leading and trailing whitespace
// The subcommand's single NAME argument, or usage_error.
std::string one_name(const arguments& a, const char* what);

}  // namespace kiwi::cli
