#pragma once
// Test-only servers for the registry and runtime tests, each a real program started in its own
// process group on 127.0.0.1 or a unix socket in a temp dir, stopped by its id, every wait
// bounded: docker-registry (htpasswd or token auth, plain or TLS), the Distribution token
// server and the stub Kubernetes API server of tests/support/, podman's Docker API service.

#include <string>
#include <vector>

#include "git_servers.hpp"

namespace kiwi::test {

inline const fs::path support_dir = fs::path(KIWI_FIXTURES_DIR) / ".." / "support";

// A self-signed certificate for 127.0.0.1 and localhost, made by openssl in `dir`.
struct self_signed {
  fs::path cert, key;
  self_signed(const fs::path& dir, const std::string& name) {
    cert = dir / (name + ".crt");
    key = dir / (name + ".key");
    fs::create_directories(dir);
    run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout",
         key.string(), "-out", cert.string(), "-subj", "/CN=" + name, "-addext",
         "subjectAltName=IP:127.0.0.1,DNS:localhost"});
  }
  std::string cert_pem() const { return read_file(cert); }
};

// Waits for a server to write its port to `file` (written whole, by rename).
inline int wait_for_port_file(const fs::path& file, pid_t server, const std::string& what,
                              std::chrono::milliseconds limit = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (const std::string text = trimmed(read_file(file)); !text.empty()) {
      return std::stoi(text);
    }
    int status = 0;
    if (::waitpid(server, &status, WNOHANG) == server) {
      throw std::runtime_error(what + " exited before listening");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop_process_group(server, 1s);
      throw std::runtime_error(what + " wrote no port to " + file.string());
    }
    std::this_thread::sleep_for(20ms);
  }
}

// A process stopped (with its group) when this goes away.
class server_process {
 public:
  server_process() = default;
  explicit server_process(pid_t pid) : pid_(pid) {}
  server_process(server_process&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  server_process& operator=(server_process&& o) noexcept {
    std::swap(pid_, o.pid_);
    return *this;
  }
  ~server_process() { stop_process_group(pid_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// The Distribution token server (tests/support/registry_token_server.py), signing with `key`.
class token_server {
 public:
  token_server(const fs::path& dir, const self_signed& key, const std::string& user,
               const std::string& password, const std::string& token_field = "token") {
    fs::create_directories(dir);
    const fs::path port_file = dir / "token.port";
    process_ = server_process(spawn(
        {"/usr/bin/python3", (support_dir / "registry_token_server.py").string(), "--cert",
         key.cert.string(), "--key", key.key.string(), "--issuer", issuer, "--service", service,
         "--user", user, "--password", password, "--port-file", port_file.string(),
         "--token-field", token_field},
        -1));
    port_ = wait_for_port_file(port_file, process_.pid(), "the token server");
  }
  std::string realm() const { return "http://127.0.0.1:" + std::to_string(port_) + "/token"; }
  static constexpr const char* issuer = "kiwi-test-issuer";
  static constexpr const char* service = "kiwi-test-registry";

 private:
  server_process process_;
  int port_ = 0;
};

// docker-registry 2.8 with filesystem storage in `dir`. Auth: htpasswd (user/password), token
// (a token server's realm and the certificate that signs its tokens) or none; TLS optional.
class docker_registry {
 public:
  struct options {
    std::string htpasswd_user, htpasswd_password;
    std::string token_realm;
    const self_signed* token_signer = nullptr;
    const self_signed* tls = nullptr;
  };

  docker_registry(const fs::path& dir, const options& o) : port_(free_port()) {
    fs::create_directories(dir);
    std::string config = "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                         "    rootdirectory: " + (dir / "data").string() +
                         "\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" +
                         std::to_string(port_) + "\n";
    if (o.tls != nullptr) {
      config += "  tls:\n    certificate: " + o.tls->cert.string() + "\n    key: " +
                o.tls->key.string() + "\n";
    }
    if (!o.htpasswd_user.empty()) {
      const fs::path file = dir / "htpasswd";
      write_file(file, run({"htpasswd", "-Bbn", o.htpasswd_user, o.htpasswd_password}));
      config += "auth:\n  htpasswd:\n    realm: kiwi-test\n    path: " + file.string() + "\n";
    } else if (!o.token_realm.empty()) {
      config += "auth:\n  token:\n    realm: " + o.token_realm + "\n    service: " +
                token_server::service + "\n    issuer: " + token_server::issuer +
                "\n    rootcertbundle: " + o.token_signer->cert.string() + "\n";
    }
    write_file(dir / "config.yml", config);
    process_ = server_process(
        spawn({"docker-registry", "serve", (dir / "config.yml").string()}, -1));
    wait_for_port(port_, process_.pid(), "docker-registry");
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  server_process process_;
};

// tests/support/k8s_stub.py over https with `cert`; `token` is accepted, `forbidden_token`
// gets the recorded 403.
class k8s_stub {
 public:
  // `extra`: more arguments, e.g. {"--kaniko-cluster", "--deny", "jobs"}.
  k8s_stub(const fs::path& dir, const self_signed& cert, const std::string& token,
           const std::string& forbidden_token, const std::vector<std::string>& extra = {}) {
    fs::create_directories(dir);
    const fs::path port_file = dir / "k8s.port";
    log_ = dir / "requests.jsonl";
    std::vector<std::string> argv = {
        "/usr/bin/python3", (support_dir / "k8s_stub.py").string(), "--cert",
        cert.cert.string(), "--key", cert.key.string(), "--token", token, "--forbidden-token",
        forbidden_token, "--port-file", port_file.string(), "--log", log_.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = server_process(spawn(argv, -1));
    port_ = wait_for_port_file(port_file, process_.pid(), "the Kubernetes stub");
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  // The recorded requests, one JSON object per line.
  std::string requests() const { return read_file(log_); }

 private:
  server_process process_;
  fs::path log_;
  int port_ = 0;
};

// `podman system service` answering the Docker Engine API on `dir`/docker.sock, with private
// containers.conf, storage.conf and registries.conf (ENVIRONMENT.md).
class podman_service {
 public:
  explicit podman_service(const fs::path& dir) : socket_(dir / "docker.sock") {
    fs::create_directories(dir);
    write_file(dir / "containers.conf",
               "[containers]\ndefault_ulimits = [\"nofile=4096:4096\",\"nproc=4096:4096\"]\n"
               "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n"
               "events_logger = \"file\"\n");
    write_file(dir / "storage.conf", "[storage]\ndriver = \"vfs\"\ngraphroot = \"" +
                                         (dir / "storage").string() + "\"\nrunroot = \"" +
                                         (dir / "run").string() + "\"\n");
    write_file(dir / "registries.conf", "unqualified-search-registries = []\n");
    process_ = server_process(spawn(
        {"env", "CONTAINERS_CONF=" + (dir / "containers.conf").string(),
         "CONTAINERS_STORAGE_CONF=" + (dir / "storage.conf").string(),
         "CONTAINERS_REGISTRIES_CONF=" + (dir / "registries.conf").string(), "podman", "system",
         "service", "--time=0", "unix://" + socket_.string()},
        -1));
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!fs::exists(socket_)) {
      int status = 0;
      if (::waitpid(process_.pid(), &status, WNOHANG) == process_.pid()) {
        throw std::runtime_error("podman system service exited before listening");
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("podman system service made no socket in 20 s");
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  const fs::path& socket() const { return socket_; }

 private:
  fs::path socket_;
  server_process process_;
};

}  // namespace kiwi::test
