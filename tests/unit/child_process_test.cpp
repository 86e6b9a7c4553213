#include <doctest/doctest.h>

#include <fcntl.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "tests/unit/git_servers.hpp"
#include "common/base/child_process.hpp"

using kiwi::child_request;
using kiwi::child_result;
using kiwi::run_child;
namespace test = kiwi::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

child_request shell(const std::string& script, test::line_log* log = nullptr) {
  child_request r;
  r.argv = {"sh", "-c", script};
  r.env = kiwi::environment_subset({"PATH"});
  if (log != nullptr) {
    r.on_line = log->sink();
  }
  return r;
}

// Alive and not a zombie (a zombie's parent, possibly a container's pid 1, has yet to reap it).
bool process_alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = content.rfind(')');
  if (content.empty() || paren == std::string::npos || paren + 2 >= content.size()) {
    return false;
  }
  const char state = content[paren + 2];
  return state != 'Z' && state != 'X';
}

// Waits until pid is gone (the kernel delivers SIGKILL asynchronously).
bool gone_soon(int pid) {
  for (int i = 0; i < 100 && process_alive(pid); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  return !process_alive(pid);
}

// Whether a process of the group is alive (zombies do not count: this machine's pid 1 reaps
// orphans only every few seconds).
bool group_alive(int pgid) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) {
      continue;
    }
    std::ifstream stat(e.path() / "stat");
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto paren = content.rfind(')');
    if (paren == std::string::npos) {
      continue;
    }
    std::istringstream fields(content.substr(paren + 2));
    char state = 0;
    int ppid = 0;
    int pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      return true;
    }
  }
  return false;
}

// Waits until no process of the group is alive (the kernel delivers SIGKILL asynchronously).
bool group_gone_soon(int pgid) {
  for (int i = 0; i < 100 && group_alive(pgid); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  return !group_alive(pgid);
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

}  // namespace

// The exit code, a killing signal and success are told apart.
TEST_CASE("child process: exit codes and signals") {
  child_result ok = run_child(shell("true"));
  CHECK(ok.started);
  CHECK(ok.succeeded());
  CHECK(ok.exit_code == 0);

  child_result failed = run_child(shell("exit 7"));
  CHECK_FALSE(failed.succeeded());
  CHECK(failed.exit_code == 7);
  CHECK(failed.describe() == "exit code 7");

  child_result killed = run_child(shell("kill -9 $$"));
  CHECK_FALSE(killed.succeeded());
  CHECK(killed.signal == 9);
  CHECK(killed.describe().starts_with("killed by signal 9"));
}

// A program that cannot be found is reported, not thrown.
TEST_CASE("child process: a missing program") {
  child_request r;
  r.argv = {"kiwi-no-such-program"};
  r.env = kiwi::environment_subset({"PATH"});
  child_result result = run_child(r);
  CHECK_FALSE(result.started);
  CHECK(result.start_error.find("not found") != std::string::npos);

  child_request bad_dir = shell("true");
  bad_dir.working_dir = "/nonexistent/kiwi";
  child_result no_dir = run_child(bad_dir);
  CHECK_FALSE(no_dir.started);
  CHECK(no_dir.start_error.find("/nonexistent/kiwi") != std::string::npos);
}

// stdout and stderr arrive merged, line by line, with CRLF and a missing final newline handled.
TEST_CASE("child process: lines") {
  test::line_log log;
  child_result r = run_child(shell("echo out; echo err >&2; printf 'crlf\\r\\nlast'", &log));
  CHECK(r.succeeded());
  CHECK(log.all() == std::vector<std::string>{"out", "err", "crlf", "last"});
  CHECK(r.last_lines == log.all());
}

// Long lines are split at max_line_bytes, never inside a UTF-8 character.
TEST_CASE("child process: long lines are split") {
  test::line_log log;
  child_request r = shell("head -c 20000 /dev/zero | tr '\\0' x; echo", &log);
  r.max_line_bytes = 8192;
  CHECK(run_child(r).succeeded());
  auto lines = log.all();
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == std::string(8192, 'x'));
  CHECK(lines[1] == std::string(8192, 'x'));
  CHECK(lines[2] == std::string(20000 - 2 * 8192, 'x'));

  test::line_log utf8;
  child_request u = shell("head -c 9 /dev/zero | tr '\\0' a; printf '\\303\\251b\\n'", &utf8);
  u.max_line_bytes = 10;  // 9 ASCII bytes + the first byte of "é" would fill it
  CHECK(run_child(u).succeeded());
  CHECK(utf8.all() == std::vector<std::string>{"aaaaaaaaa",
                                               "\xc3\xa9"
                                               "b"});
}

// Carriage-return progress keeps the final state; overwritten states are throttled.
TEST_CASE("child process: carriage-return progress") {
  test::line_log log;
  child_request r = shell("printf '10%%\\r20%%\\r30%%\\r100%%\\ndone\\n'", &log);
  r.progress_interval = 1h;
  CHECK(run_child(r).succeeded());
  CHECK(log.all() == std::vector<std::string>{"10%", "100%", "done"});

  test::line_log every;
  child_request e = shell("printf '10%%\\r20%%\\r100%%\\n'", &every);
  e.progress_interval = 0ms;
  CHECK(run_child(e).succeeded());
  CHECK(every.all() == std::vector<std::string>{"10%", "20%", "100%"});
}

// Only the last tail_lines lines are kept.
TEST_CASE("child process: the tail") {
  child_request r = shell("i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); done");
  r.tail_lines = 20;
  child_result result = run_child(r);
  REQUIRE(result.last_lines.size() == 20);
  CHECK(result.last_lines.front() == "line10");
  CHECK(result.last_lines.back() == "line29");
}

// The environment is exactly the one given; the working directory is set; stdin is empty.
TEST_CASE("child process: environment, working directory and stdin") {
  test::temp_dir dir;
  test::line_log log;
  child_request r = shell("echo \"$KIWI_FOO|${HOME:-none}\"; pwd; cat; echo end", &log);
  kiwi::set_environment(r.env, "KIWI_FOO", "bar");
  r.working_dir = dir.path();
  child_result result = run_child(r);
  CHECK(result.succeeded());
  CHECK(log.all() == std::vector<std::string>{"bar|none", dir.path().string(), "end"});
}

// The deadline stops the program (SIGTERM to its group) and says so.
TEST_CASE("child process: deadline") {
  child_request r = shell("sleep 30");
  r.deadline = steady::now() + 300ms;
  const auto start = steady::now();
  child_result result = run_child(r);
  CHECK(result.timed_out);
  CHECK_FALSE(result.cancelled);
  CHECK_FALSE(result.succeeded());
  CHECK(steady::now() - start < 2s);
}

// A cancel request stops the program within the polling interval; a grandchild dies with it.
TEST_CASE("child process: cancel kills the process group") {
  test::line_log log;
  std::atomic<bool> cancel{false};
  child_request r = shell("sleep 30 & echo $!; wait", &log);
  r.cancel = &cancel;
  std::thread canceller([&] {
    for (int i = 0; i < 500 && log.all().empty(); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    cancel = true;
  });
  const auto start = steady::now();
  child_result result = run_child(r);
  canceller.join();
  CHECK(result.cancelled);
  CHECK(steady::now() - start < 2s);
  REQUIRE(log.all().size() == 1);
  const int grandchild = std::stoi(log.all()[0]);
  CHECK(gone_soon(grandchild));
  CHECK(group_gone_soon(result.pid));
}

// A program that ignores SIGTERM is killed after the grace period.
TEST_CASE("child process: SIGKILL after the grace period") {
  test::line_log log;
  std::atomic<bool> cancel{false};
  child_request r = shell("trap '' TERM; echo ready; sleep 30", &log);
  r.cancel = &cancel;
  r.kill_grace = 300ms;
  std::thread canceller([&] {
    for (int i = 0; i < 500 && log.all().empty(); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    cancel = true;
  });
  const auto start = steady::now();
  child_result result = run_child(r);
  canceller.join();
  CHECK(result.cancelled);
  CHECK(result.signal == SIGKILL);
  CHECK(steady::now() - start < 2s);
}

// What the program leaves running in the background is killed when it exits, so the call
// returns even though the background process holds the output pipe.
TEST_CASE("child process: background processes do not outlive the program") {
  test::line_log log;
  const auto start = steady::now();
  child_result result = run_child(shell("sleep 30 & echo $!", &log));
  CHECK(result.succeeded());
  CHECK(steady::now() - start < 2s);
  REQUIRE(log.all().size() == 1);
  CHECK(gone_soon(std::stoi(log.all()[0])));
}

// The worker's own descriptors stay out of the child, and none leak in the worker.
TEST_CASE("child process: no descriptor leaks") {
  // Deliberately without O_CLOEXEC, and above the numbers ls itself uses.
  const int opened = ::open("/dev/null", O_RDONLY);
  REQUIRE(opened >= 0);
  const int inherited = ::fcntl(opened, F_DUPFD, 50);
  ::close(opened);
  REQUIRE(inherited >= 50);
  const std::size_t before = open_fd_count();
  test::line_log log;
  child_result result = run_child(shell("ls /proc/self/fd", &log));
  CHECK(result.succeeded());
  CHECK(open_fd_count() == before);
  const auto lines = log.all();
  CHECK(std::find(lines.begin(), lines.end(), std::to_string(inherited)) == lines.end());
  CHECK(lines.size() <= 4);  // 0, 1, 2 and ls's own directory handle
  ::close(inherited);
}
