#include "cli/terminal.hpp"

#include <csignal>
#include <cstdio>
#include <iostream>

#include <termios.h>
#include <unistd.h>

#include "cli/cli_error.hpp"

namespace kiwi::cli {

namespace {

// The terminal's settings while echo is off, restored by a Ctrl-C too.
struct termios saved_settings;
volatile std::sig_atomic_t echo_off = 0;

extern "C" void restore_and_reraise(int sig) {
  if (echo_off != 0) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_settings);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// Echo off for its lifetime (on a terminal).
class no_echo {
 public:
  no_echo() {
    if (::tcgetattr(STDIN_FILENO, &saved_settings) != 0) {
      return;
    }
    struct termios quiet = saved_settings;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    previous_int_ = std::signal(SIGINT, restore_and_reraise);
    previous_term_ = std::signal(SIGTERM, restore_and_reraise);
    echo_off = 1;
    active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  ~no_echo() {
    if (echo_off != 0) {
      ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_settings);
      echo_off = 0;
      std::signal(SIGINT, previous_int_);
      std::signal(SIGTERM, previous_term_);
    }
  }
  no_echo(const no_echo&) = delete;
  no_echo& operator=(const no_echo&) = delete;
  bool active() const { return active_; }

 private:
  bool active_ = false;
  void (*previous_int_)(int) = SIG_DFL;
  void (*previous_term_)(int) = SIG_DFL;
};

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

terminal::terminal() : tty_(::isatty(STDIN_FILENO) == 1) {}

std::optional<std::string> terminal::read_line(bool secret) {
  std::cout.flush();
  std::string line;
  bool got = false;
  if (secret && tty_) {
    no_echo guard;
    got = static_cast<bool>(std::getline(std::cin, line));
    if (!guard.active()) {
      std::cout << '\n';
    }
  } else {
    got = static_cast<bool>(std::getline(std::cin, line));
    if (!tty_) {
      // The transcript shows what was answered (a secret only that it was).
      std::cout << (secret ? (line.empty() ? "" : "(hidden)") : trim(line)) << '\n';
    }
  }
  if (!got) {
    return std::nullopt;
  }
  return trim(line);
}

std::string terminal::ask(const std::string& question, const std::string& fallback) {
  std::cout << question;
  if (!fallback.empty()) {
    std::cout << " [" << fallback << "]";
  }
  std::cout << ": ";
  auto line = read_line(false);
  if (!line) {
    std::cout << '\n';
    throw input_error("the input ended before the question \"" + question + "\" was answered");
  }
  return line->empty() ? fallback : *line;
}

std::string terminal::ask_secret(const std::string& question) {
  std::cout << question << ": ";
  auto line = read_line(true);
  if (!line) {
    std::cout << '\n';
    throw input_error("the input ended before the question \"" + question + "\" was answered");
  }
  return *line;
}

bool terminal::confirm(const std::string& question, bool fallback) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string answer = ask(question + (fallback ? " [Y/n]" : " [y/N]"), "");
    if (answer.empty()) {
      return fallback;
    }
    if (answer == "y" || answer == "Y" || answer == "yes") {
      return true;
    }
    if (answer == "n" || answer == "N" || answer == "no") {
      return false;
    }
    std::cout << "please answer y or n\n";
  }
  throw input_error("no yes/no answer to \"" + question + "\"");
}

std::string terminal::choose(const std::string& question, const std::vector<std::string>& choices,
                             const std::string& fallback) {
  std::string list;
  for (const auto& c : choices) {
    list += (list.empty() ? "" : "/") + c;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string answer = ask(question + " (" + list + ")", fallback);
    for (const auto& c : choices) {
      if (answer == c) {
        return c;
      }
    }
    std::cout << "please answer one of: " << list << '\n';
  }
  throw input_error("no valid answer to \"" + question + "\"");
}

}  // namespace kiwi::cli
