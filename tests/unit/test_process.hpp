#pragma once
// Test-only helpers for processes and files: temp dirs, commands with bounded waits, process
// groups stopped by id, free ports on 127.0.0.1, and a collector of reported lines. Every wait
// is bounded. The real servers built on them are in git_servers.hpp.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace kiwi::test {

namespace fs = std::filesystem;

// Collects the lines a stage or a child process reports (from another thread); tests read them
// while it runs or afterwards.
struct line_log {
  std::mutex mutex;
  std::vector<std::string> lines;

  std::function<void(std::string_view)> sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mutex);
      lines.emplace_back(line);
    };
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mutex);
    return lines;
  }
  bool has_line(std::string_view text) {
    std::lock_guard lock(mutex);
    return std::find(lines.begin(), lines.end(), text) != lines.end();
  }
  bool contains(std::string_view text) {
    std::lock_guard lock(mutex);
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(text) != std::string::npos; });
  }
  std::vector<std::string> starting_with(std::string_view prefix) {
    std::lock_guard lock(mutex);
    std::vector<std::string> out;
    for (const auto& l : lines) {
      if (l.starts_with(prefix)) {
        out.push_back(l);
      }
    }
    return out;
  }
  // The last line with this prefix, or "".
  std::string last_starting_with(std::string_view prefix) {
    const auto found = starting_with(prefix);
    return found.empty() ? std::string() : found.back();
  }
};
using namespace std::chrono_literals;

// A fresh directory under the system temp dir, removed with everything in it.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "kiwi-test") {
    static std::atomic<unsigned> counter{0};
    std::random_device random;
    path_ = fs::temp_directory_path() /
            (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(random()));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Kills the process group leader pid's group: SIGTERM, then SIGKILL after a grace period.
inline void stop_process_group(pid_t pid, std::chrono::milliseconds grace = 5s) {
  if (pid <= 0) {
    return;
  }
  ::kill(-pid, SIGTERM);
  const auto give_up = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno == ECHILD)) {
      ::kill(-pid, SIGKILL);  // forked helpers that ignored SIGTERM
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  ::kill(-pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);  // SIGKILL cannot be ignored: this returns
}

// Starts argv in its own process group with stdout/stderr going to out_fd (or /dev/null).
inline pid_t spawn(const std::vector<std::string>& argv, int out_fd = -1) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  return pid;
}

// Runs a command to completion and returns its output (stdout and stderr); throws when it fails
// or runs longer than `limit`.
inline std::string run(const std::vector<std::string>& argv, std::chrono::seconds limit = 60s) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  pid_t pid = -1;
  try {
    pid = spawn(argv, pipe_fds[1]);
  } catch (...) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw;
  }
  ::close(pipe_fds[1]);
  std::string output;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char buf[4096];
    ssize_t n = ::read(pipe_fds[0], buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  if (timed_out) {
    stop_process_group(pid, 1s);
    throw std::runtime_error(argv[0] + " " + argv[1] + " did not finish in time");
  }
  // Output closed: the process is exiting; reap it within the limit.
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      stop_process_group(pid, 1s);
      throw std::runtime_error(argv[0] + " did not exit in time");
    }
    std::this_thread::sleep_for(5ms);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string command;
    for (const auto& a : argv) {
      command += a + " ";
    }
    throw std::runtime_error("command failed: " + command + "\n" + output);
  }
  return output;
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

inline void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A port on 127.0.0.1 that nothing listens on right now.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return open;
}

inline void wait_for_port(int port, pid_t server, const std::string& what,
                          std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!port_open(port)) {
    int status = 0;
    if (::waitpid(server, &status, WNOHANG) == server) {
      throw std::runtime_error(what + " exited before listening");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop_process_group(server, 1s);
      throw std::runtime_error(what + " did not listen on port " + std::to_string(port));
    }
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace kiwi::test
