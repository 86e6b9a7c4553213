#pragma once
// Test-only helpers: temp dirs, commands with bounded waits, and real git servers on 127.0.0.1
// (git daemon; lighttpd + git-http-backend with basic auth, optionally TLS; OpenSSH's sshd with
// key authentication; a blackhole that accepts TCP connections in the kernel and never answers). Every process runs in its own
// process group and is stopped by its id; every wait is bounded.

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

// `git daemon --export-all` serving every repository under base. It forks a child per
// connection in its process group; stop() ends the whole group.
class git_daemon {
 public:
  explicit git_daemon(const fs::path& base) : port_(free_port()) {
    pid_ = spawn({"git", "daemon", "--reuseaddr", "--listen=127.0.0.1",
                  "--port=" + std::to_string(port_), "--base-path=" + base.string(),
                  "--export-all", base.string()});
    wait_for_port(port_, pid_, "git daemon");
  }
  ~git_daemon() { stop(); }
  git_daemon(const git_daemon&) = delete;
  git_daemon& operator=(const git_daemon&) = delete;

  void stop() {
    stop_process_group(pid_);
    pid_ = -1;
  }
  std::string url(const std::string& name) const {
    return "git://127.0.0.1:" + std::to_string(port_) + "/" + name + ".git";
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

// lighttpd running git-http-backend for /git/ with basic auth: the token is user's password.
// With tls, it serves https with a self-signed certificate for 127.0.0.1 (cert_file()).
class git_http_server {
 public:
  git_http_server(const fs::path& dir, const fs::path& repos, const std::string& user,
                  const std::string& token, bool tls = false)
      : dir_(dir), port_(free_port()), tls_(tls) {
    fs::create_directories(dir_);
    write_file(dir_ / "users", user + ":" + token + "\n");
    std::string conf =
        "server.modules = (\"mod_alias\", \"mod_auth\", \"mod_authn_file\", \"mod_cgi\", "
        "\"mod_setenv\"" + std::string(tls ? ", \"mod_openssl\"" : "") + ")\n" +
        "server.document-root = \"" + dir_.string() + "\"\n" +
        "server.bind = \"127.0.0.1\"\n" +
        "server.port = " + std::to_string(port_) + "\n" +
        "server.errorlog = \"" + (dir_ / "error.log").string() + "\"\n" +
        "alias.url = (\"/git/\" => \"/usr/lib/git-core/git-http-backend/\")\n" +
        "$HTTP[\"url\"] =~ \"^/git/\" {\n" +
        "  cgi.assign = (\"\" => \"\")\n" +
        "  setenv.add-environment = (\"GIT_PROJECT_ROOT\" => \"" + repos.string() +
        "\", \"GIT_HTTP_EXPORT_ALL\" => \"1\")\n" +
        "}\n" +
        "auth.backend = \"plain\"\n" +
        "auth.backend.plain.userfile = \"" + (dir_ / "users").string() + "\"\n" +
        "auth.require = (\"/git/\" => (\"method\" => \"basic\", \"realm\" => \"git\", "
        "\"require\" => \"valid-user\"))\n";
    if (tls) {
      run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
           "/CN=127.0.0.1", "-addext", "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1", "-keyout",
           (dir_ / "key.pem").string(), "-out", cert_file().string()});
      conf += "ssl.engine = \"enable\"\n";
      conf += "ssl.pemfile = \"" + cert_file().string() + "\"\n";
      conf += "ssl.privkey = \"" + (dir_ / "key.pem").string() + "\"\n";
    }
    write_file(dir_ / "lighttpd.conf", conf);
    pid_ = spawn({"lighttpd", "-D", "-f", (dir_ / "lighttpd.conf").string()});
    wait_for_port(port_, pid_, "lighttpd");
  }
  ~git_http_server() { stop(); }
  git_http_server(const git_http_server&) = delete;
  git_http_server& operator=(const git_http_server&) = delete;

  void stop() {
    stop_process_group(pid_);
    pid_ = -1;
  }
  std::string url(const std::string& name) const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
           "/git/" + name + ".git";
  }
  fs::path cert_file() const { return dir_ / "cert.pem"; }

 private:
  fs::path dir_;
  int port_;
  bool tls_;
  pid_t pid_ = -1;
};

// OpenSSH's sshd on 127.0.0.1 with a private config, an ed25519 host key and one authorized
// ed25519 client key (client_key()), all in dir; git over ssh runs git-upload-pack as root
// (tests run as root), so url() takes a repository's absolute path. other_key() is a valid key
// the server does not know. sshd's log is dir/sshd.log.
class ssh_server {
 public:
  explicit ssh_server(const fs::path& dir) : dir_(dir), port_(free_port()) {
    fs::create_directories(dir_);
    fs::create_directories("/run/sshd");  // sshd's privilege separation directory
    for (const char* name : {"host_key", "client_key", "other_key"}) {
      run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", std::string("kiwi-") + name,
           "-f", (dir_ / name).string()});
    }
    write_file(dir_ / "authorized_keys", read_file(dir_ / "client_key.pub"));
    write_file(dir_ / "sshd_config",
               "Port " + std::to_string(port_) + "\n" +
                   "ListenAddress 127.0.0.1\n"
                   "HostKey " + (dir_ / "host_key").string() + "\n" +
                   "PidFile " + (dir_ / "sshd.pid").string() + "\n" +
                   "AuthorizedKeysFile " + (dir_ / "authorized_keys").string() + "\n" +
                   "StrictModes no\n"
                   "UsePAM no\n"
                   "PermitRootLogin prohibit-password\n"
                   "PubkeyAuthentication yes\n"
                   "PasswordAuthentication no\n"
                   "KbdInteractiveAuthentication no\n"
                   "AllowUsers root\n"
                   "LogLevel VERBOSE\n");
    const std::string log = (dir_ / "sshd.log").string();
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    try {
      // -D: stay in the foreground (stop() ends it); -e: log to stderr; absolute path: sshd
      // re-executes itself for each connection.
      pid_ = spawn({"/usr/sbin/sshd", "-D", "-e", "-f", (dir_ / "sshd_config").string()}, log_fd);
    } catch (...) {
      ::close(log_fd);
      throw;
    }
    ::close(log_fd);
    wait_for_port(port_, pid_, "sshd");
  }
  ~ssh_server() { stop(); }
  ssh_server(const ssh_server&) = delete;
  ssh_server& operator=(const ssh_server&) = delete;

  void stop() {
    stop_process_group(pid_);
    pid_ = -1;
  }
  int port() const { return port_; }
  // ssh://root@127.0.0.1:PORT/<absolute path of the bare repository>
  std::string url(const fs::path& bare) const {
    return "ssh://root@127.0.0.1:" + std::to_string(port_) + bare.string();
  }
  std::string client_key() const { return read_file(dir_ / "client_key"); }
  std::string other_key() const { return read_file(dir_ / "other_key"); }
  // "[127.0.0.1]:PORT ssh-ed25519 AAAA...": the ssh_known_hosts line that pins this server.
  std::string known_hosts_line() const {
    const std::string pub = read_file(dir_ / "host_key.pub");  // "ssh-ed25519 AAAA... comment"
    return "[127.0.0.1]:" + std::to_string(port_) + " " + pub.substr(0, pub.rfind(' '));
  }
  // The line of a key the server does not have, for the same host.
  std::string other_known_hosts_line() const {
    const std::string pub = read_file(dir_ / "other_key.pub");
    return "[127.0.0.1]:" + std::to_string(port_) + " " + pub.substr(0, pub.rfind(' '));
  }
  // "SHA256:..." as ssh-keygen -l prints it for the host key.
  std::string host_fingerprint() const {
    const std::string out = run({"ssh-keygen", "-l", "-E", "sha256", "-f",
                                 (dir_ / "host_key.pub").string()});
    const auto start = out.find("SHA256:");
    return out.substr(start, out.find(' ', start) - start);
  }
  std::string log() const { return read_file(dir_ / "sshd.log"); }

 private:
  fs::path dir_;
  int port_;
  pid_t pid_ = -1;
};

// A listening socket that never accepts: connects succeed in the kernel, nothing is ever sent.
// fd() lets a test accept on it after all.
class blackhole {
 public:
  blackhole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("cannot open the blackhole socket");
    }
    port_ = ntohs(a.sin_port);
  }
  ~blackhole() { ::close(fd_); }
  blackhole(const blackhole&) = delete;
  blackhole& operator=(const blackhole&) = delete;
  int port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A bare repository plus a working clone that commits and pushes with the git CLI.
class test_repo {
 public:
  test_repo(const fs::path& root, const std::string& name, const std::string& branch = "main")
      : bare_(root / "repos" / (name + ".git")), work_(root / "work" / name), branch_(branch) {
    fs::create_directories(bare_);
    run({"git", "init", "-q", "--bare", "-b", branch_, bare_.string()});
    run({"git", "init", "-q", "-b", branch_, work_.string()});
    git({"remote", "add", "origin", bare_.string()});
  }

  // Writes the files, commits them all and pushes the current branch; returns the commit id.
  std::string commit(const std::map<std::string, std::string>& files,
                     const std::string& message = "change") {
    for (const auto& [path, content] : files) {
      write_file(work_ / path, content);
    }
    git({"add", "-A"});
    git({"commit", "-q", "-m", message});
    git({"push", "-q", "origin", "HEAD"});
    return rev_parse("HEAD");
  }

  std::string git(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"git",
                                     "-C",
                                     work_.string(),
                                     "-c",
                                     "user.name=Kiwi Test",
                                     "-c",
                                     "user.email=kiwi@example.com",
                                     "-c",
                                     "commit.gpgsign=false",
                                     "-c",
                                     "tag.gpgsign=false"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  std::string rev_parse(const std::string& what) { return trimmed(git({"rev-parse", what})); }

  const fs::path& bare() const { return bare_; }
  const fs::path& work() const { return work_; }
  std::string file_url() const { return "file://" + bare_.string(); }

 private:
  fs::path bare_;
  fs::path work_;
  std::string branch_;
};

}  // namespace kiwi::test
