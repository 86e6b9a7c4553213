#include "common/base/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/base/child_output.hpp"
#include "common/base/child_spawn.hpp"

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
bool read_available(int fd, child_output& lines) {
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

  const pid_t pid = spawn_in_session(request, write_end.get(), result.start_error);
  write_end.reset();  // the child holds the only write end now: end of file when it is done
  if (pid < 0) {
    return result;
  }
  result.started = true;
  result.pid = pid;
  reaper guard{pid};
  child_output lines(request);

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

}  // namespace kiwi
