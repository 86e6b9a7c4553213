#include "common/base/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>

extern char** environ;

namespace kiwi {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto poll_interval = 50ms;
// After the program exited and its group was killed, how long to wait for the pipe's last bytes
// (a writer that escaped the group could otherwise hold it open forever).
constexpr auto drain_limit = 1s;

// Owns a file descriptor.
class unique_fd {
 public:
  explicit unique_fd(int fd = -1) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_;
};

// Turns the pipe's bytes into lines (see child_request::on_line) and keeps the last ones.
class line_splitter {
 public:
  explicit line_splitter(const child_request& request) : request_(request) {}

  void feed(std::string_view data) {
    while (!data.empty()) {
      if (after_cr_) {
        after_cr_ = false;
        if (data.front() == '\n') {  // CRLF ends the line normally
          emit_pending();
          data.remove_prefix(1);
          continue;
        }
        overwrite_pending();
      }
      const auto stop = data.find_first_of("\r\n");
      append(data.substr(0, stop));
      if (stop == std::string_view::npos) {
        return;
      }
      if (data[stop] == '\n') {
        emit_pending();
      } else {
        after_cr_ = true;
      }
      data.remove_prefix(stop + 1);
    }
  }

  // End of output: what is pending is the last line (also after a final carriage return).
  void finish() {
    after_cr_ = false;
    if (!pending_.empty()) {
      emit_pending();
    }
  }

  std::vector<std::string> take_tail() { return {tail_.begin(), tail_.end()}; }

 private:
  void append(std::string_view text) {
    const std::size_t max = std::max<std::size_t>(request_.max_line_bytes, 4);
    while (!text.empty()) {
      const std::size_t room = max - pending_.size();
      pending_.append(text.substr(0, room));
      text.remove_prefix(std::min(room, text.size()));
      if (pending_.size() >= max) {
        // Cut before the last character when it is incomplete, so characters stay whole.
        std::size_t cut = max;
        std::size_t start = cut;
        for (int i = 0; i < 4 && start > 0; ++i) {
          --start;
          if ((static_cast<unsigned char>(pending_[start]) & 0xC0) != 0x80) {
            break;
          }
        }
        const auto lead = static_cast<unsigned char>(pending_[start]);
        const std::size_t length = (lead & 0xE0) == 0xC0   ? 2
                                   : (lead & 0xF0) == 0xE0 ? 3
                                   : (lead & 0xF8) == 0xF0 ? 4
                                                           : 1;
        if (start > 0 && start + length > cut) {
          cut = start;
        }
        std::string rest = pending_.substr(cut);
        pending_.resize(cut);
        emit_pending();
        pending_ = std::move(rest);
      }
    }
  }

  // A carriage return followed by more text: the pending text was a progress state.
  void overwrite_pending() {
    const auto now = clock::now();
    if (!pending_.empty() &&
        (!progress_emitted_ || now - last_progress_ >= request_.progress_interval)) {
      progress_emitted_ = true;
      last_progress_ = now;
      emit_pending();
    }
    pending_.clear();
  }

  void emit_pending() {
    if (request_.on_line) {
      request_.on_line(pending_);
    }
    if (request_.tail_lines > 0) {
      if (tail_.size() == request_.tail_lines) {
        tail_.pop_front();
      }
      tail_.push_back(pending_);
    }
    pending_.clear();
  }

  const child_request& request_;
  std::string pending_;
  bool after_cr_ = false;
  bool progress_emitted_ = false;
  clock::time_point last_progress_{};
  std::deque<std::string> tail_;
};

std::string find_variable(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& entry : env) {
    if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
        entry[name.size()] == '=') {
      return entry.substr(name.size() + 1);
    }
  }
  return {};
}

// argv[0] as an executable path: searched in the child's PATH when it has no slash.
std::string resolve_program(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) {
    return name;
  }
  std::string path = find_variable(env, "PATH");
  if (path.empty()) {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  std::string_view dirs = path;
  while (true) {
    const auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (dir.empty()) {
      dir = ".";
    }
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) {
      return {};
    }
    dirs.remove_prefix(colon + 1);
  }
}

// Starts the program in a new session; returns its pid or sets error.
pid_t start(const child_request& request, int out_fd, std::string& error) {
  const std::string program = resolve_program(request.argv[0], request.env);
  if (program.empty()) {
    error = request.argv[0] + ": not found in PATH";
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  // Whatever the worker has open (sockets, Redis connections) stays out of the build.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!request.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, request.working_dir.c_str());
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  // The worker blocks or ignores signals (SIGPIPE, its shutdown signals): the program starts
  // with the defaults.
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  args.reserve(request.argv.size() + 1);
  for (const auto& a : request.argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(request.env.size() + 1);
  for (const auto& e : request.env) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    error = request.argv[0] + ": " + std::strerror(rc);
    std::error_code ignored;
    if (!request.working_dir.empty() &&
        !std::filesystem::is_directory(request.working_dir, ignored)) {
      error = "working directory " + request.working_dir.string() + " does not exist";
    }
    return -1;
  }
  return pid;
}

// True once the process has exited; it stays a zombie (not reaped), so its pid, which is also
// its process group id, cannot be reused while the group is signalled.
bool has_exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;
  }
  return info.si_pid == pid;
}

// Reads what is available; false at end of file.
bool read_available(int fd, line_splitter& lines) {
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      lines.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
      continue;
    }
    if (n == 0) {
      return false;
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// Makes sure that, however run_child leaves (an on_line callback may throw), the group is
// killed and the program reaped.
struct reaper {
  pid_t pid = -1;
  ~reaper() {
    if (pid > 0) {
      ::kill(-pid, SIGKILL);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
};

}  // namespace

std::string child_result::describe() const {
  if (!started) {
    return "could not start: " + start_error;
  }
  if (cancelled) {
    return "cancelled";
  }
  if (timed_out) {
    return "timed out";
  }
  if (signal != 0) {
    const char* name = ::strsignal(signal);
    return "killed by signal " + std::to_string(signal) +
           (name ? " (" + std::string(name) + ")" : "");
  }
  return "exit code " + std::to_string(exit_code);
}

child_result run_child(const child_request& request) {
  child_result result;
  if (request.argv.empty()) {
    result.start_error = "no program given";
    return result;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    result.start_error = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  unique_fd read_end(fds[0]);
  unique_fd write_end(fds[1]);
  ::fcntl(read_end.get(), F_SETFL, ::fcntl(read_end.get(), F_GETFL) | O_NONBLOCK);

  const pid_t pid = start(request, write_end.get(), result.start_error);
  write_end.reset();  // the child holds the only write end now: end of file when it is done
  if (pid < 0) {
    return result;
  }
  result.started = true;
  result.pid = pid;
  reaper guard{pid};
  line_splitter lines(request);

  bool pipe_open = true;
  bool stopping = false;
  bool killed = false;
  clock::time_point term_sent{};
  while (!has_exited(pid)) {
    const auto now = clock::now();
    if (!stopping) {
      if (request.cancel != nullptr && request.cancel->load()) {
        result.cancelled = true;
      } else if (now >= request.deadline) {
        result.timed_out = true;
      }
      if (result.cancelled || result.timed_out) {
        stopping = true;
        term_sent = now;
        ::kill(-pid, SIGTERM);
      }
    } else if (!killed && now - term_sent >= request.kill_grace) {
      killed = true;
      ::kill(-pid, SIGKILL);
    }
    auto wait = poll_interval;
    if (!stopping && request.deadline != clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(request.deadline - now);
      wait = std::clamp(left, std::chrono::milliseconds(1), wait);
    }
    if (pipe_open) {
      pollfd p{read_end.get(), POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(wait.count()));
      if (ready > 0) {
        pipe_open = read_available(read_end.get(), lines);
      }
    } else {
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(wait, 10ms));
    }
  }

  // Nothing of the program's group outlives it; then reap it.
  ::kill(-pid, SIGKILL);
  guard.pid = -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }

  const auto drain_until = clock::now() + drain_limit;
  while (pipe_open && clock::now() < drain_until) {
    pollfd p{read_end.get(), POLLIN, 0};
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(drain_until - clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) > 0) {
      pipe_open = read_available(read_end.get(), lines);
    }
  }
  lines.finish();
  result.last_lines = lines.take_tail();
  return result;
}

std::vector<std::string> environment_subset(const std::vector<std::string_view>& names) {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    if (std::find(names.begin(), names.end(), entry.substr(0, eq)) != names.end()) {
      out.emplace_back(entry);
    }
  }
  return out;
}

void set_environment(std::vector<std::string>& env, std::string_view name, std::string_view value) {
  std::string entry = std::string(name) + "=" + std::string(value);
  for (auto& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') {
      e = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

}  // namespace kiwi
