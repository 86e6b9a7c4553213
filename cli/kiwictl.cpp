// kiwictl: the command-line client of Kiwi's REST API (docs/kiwictl.md).
#include <string>
#include <vector>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return kiwi::cli::run_kiwictl(args);
}
