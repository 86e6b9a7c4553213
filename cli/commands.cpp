// kiwictl's entry point: the noun, its usage, and the exit codes of errors.
#include "cli/commands.hpp"

#include <iostream>

#include "cli/cli_error.hpp"
#include "cli/usage.hpp"

namespace kiwi::cli {

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
    if (noun == "deploy") return deploy_command(env, rest);
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
