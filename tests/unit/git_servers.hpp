#pragma once
// Real git servers on 127.0.0.1 for tests: git daemon; lighttpd + git-http-backend with basic
// auth, optionally TLS; OpenSSH's sshd with key authentication; a blackhole that accepts TCP
// connections in the kernel and never answers; and a repository that commits and pushes with
// the git CLI. Every process runs in its own process group and is stopped by its id.

#include "tests/unit/test_process.hpp"

namespace kiwi::test {

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
