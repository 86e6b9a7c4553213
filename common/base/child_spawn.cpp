#include "common/base/child_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

extern char** environ;

namespace kiwi {
namespace {

// Whether an environment entry sets `name` ("NAME=...").
bool sets(std::string_view entry, std::string_view name) {
  return entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=';
}

std::string find_variable(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& entry : env) {
    if (sets(entry, name)) {
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

}  // namespace

pid_t spawn_in_session(const child_request& request, int out_fd, std::string& error) {
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
    if (sets(e, name)) {
      e = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

}  // namespace kiwi
