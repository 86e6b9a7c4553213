#pragma once
// Runs a program to completion and streams what it prints, line by line (buildah in the
// worker, git repack for mirrors). Blocking: run it on a blocking pool, never on an I/O thread.
//
// The program runs in a session (and process group) of its own with stdin on /dev/null and
// stdout+stderr merged into one pipe. A cancel request or the deadline sends SIGTERM to the
// whole group, then SIGKILL after the grace period. When the program exits, whatever it left
// running in its group is killed, so nothing it started outlives the call; a process that moved
// itself to another session (setsid) escapes this and is the caller's to contain.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kiwi {

struct child_request {
  std::vector<std::string> argv;      // argv[0] is searched in env's PATH when it has no '/'
  std::vector<std::string> env;       // the complete environment, NAME=value entries
  std::filesystem::path working_dir;  // empty: the caller's
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;   // set by another thread; polled every 50 ms
  std::chrono::milliseconds kill_grace{5000};  // SIGTERM → SIGKILL
  // Called on the calling thread for every line, without its line terminator. Lines longer than
  // max_line_bytes arrive in pieces (cut at a UTF-8 character boundary). A carriage return
  // without a line feed (progress bars) overwrites the line: the overwritten text is delivered
  // at most once per progress_interval, the final text always.
  std::function<void(std::string_view line)> on_line;
  std::size_t max_line_bytes = 8192;
  std::chrono::milliseconds progress_interval{1000};
  std::size_t tail_lines = 20;  // how many of the last lines child_result keeps
};

struct child_result {
  bool started = false;  // false: the program could not be started (start_error says why)
  std::string start_error;
  int pid = -1;                         // also the process group id (for tests and logs)
  int exit_code = -1;                   // when it exited normally
  int signal = 0;                       // when a signal ended it
  bool timed_out = false;               // the deadline passed; it was stopped
  bool cancelled = false;               // the cancel flag was set; it was stopped
  std::vector<std::string> last_lines;  // the last tail_lines lines, oldest first

  bool succeeded() const { return started && exit_code == 0 && !timed_out && !cancelled; }
  // "exit code 3", "killed by signal 9 (Killed)", "timed out", "cancelled", "could not start: ..."
  std::string describe() const;
};

// Never throws for failures of the program; start failures are reported in the result.
child_result run_child(const child_request& request);

// The caller's environment reduced to the named variables (those that are set), so secrets in
// the worker's own environment do not leak into builds.
std::vector<std::string> environment_subset(const std::vector<std::string_view>& names);

// Sets NAME=value in env, replacing an existing entry.
void set_environment(std::vector<std::string>& env, std::string_view name, std::string_view value);

}  // namespace kiwi
