#pragma once
// kiwictl's exit codes (docs/kiwictl.md, kiwictl --help) and the errors that end a command.

#include <stdexcept>
#include <string>

namespace kiwi::cli {

enum class exit_code : int {
  ok = 0,
  api_error = 1,        // kiwid answered an error (printed with its field), or a test failed
  usage = 2,            // bad command line or input
  build_cancelled = 3,  // a followed build ended cancelled or superseded
  unreachable = 4,      // kiwid cannot be reached
  auth = 5,             // 401/403: missing, bad or revoked token, or role too low
};

constexpr int to_int(exit_code c) { return static_cast<int>(c); }

// A bad command line: the message, then the command's usage, exit 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The wizard's input ended or gave no valid answer: exit 2, without the usage text.
struct input_error : usage_error {
  using usage_error::usage_error;
};

// --help after a command: its usage is printed, exit 0.
struct help_request {};

// A command that ends with `code` after printing `message` (if any) to stderr.
struct command_failure : std::runtime_error {
  command_failure(exit_code code, const std::string& message)
      : std::runtime_error(message), code(code) {}
  exit_code code;
};

}  // namespace kiwi::cli
