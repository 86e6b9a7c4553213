#pragma once
// Questions on the terminal for the interactive wizard. Works on a terminal (secrets typed
// without echo, through termios) and on a pipe (answers read line by line, echoed into the
// transcript; secrets never are).

#include <optional>
#include <string>
#include <vector>

namespace kiwi::cli {

class terminal {
 public:
  terminal();  // stdin and stdout

  bool interactive() const { return tty_; }

  // The answer, or `fallback` for an empty line. usage_error when the input ends.
  std::string ask(const std::string& question, const std::string& fallback = {});
  // Typed without echo on a terminal.
  std::string ask_secret(const std::string& question);
  bool confirm(const std::string& question, bool fallback);
  // One of `choices` (re-asked a few times, then usage_error).
  std::string choose(const std::string& question, const std::vector<std::string>& choices,
                     const std::string& fallback);

 private:
  std::optional<std::string> read_line(bool secret);
  bool tty_ = false;
};

}  // namespace kiwi::cli
