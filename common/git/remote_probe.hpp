#pragma once
// "Test connection": lists a remote's branches and default branch with libgit2 (ls-remote; no
// objects are fetched), within a deadline, or says why not with the messages users know
// ("Authentication failed: ...", "Repository not found: ...", "Connection timeout: ...", a TLS
// certificate message, "SSH host key verification failed: ..."). Over ssh it also reports the
// server's host key. Blocking: run it on a blocking pool.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace kiwi {

struct probe_request {
  std::string git_url;
  std::string username;  // sent with the token
  std::string token;     // empty: anonymous
  std::chrono::milliseconds timeout{10'000};
  std::string ssh_key{};          // ssh: ed25519 private key (OpenSSH format); empty: none
  std::string ssh_known_hosts{};  // ssh: pinned host keys; empty: accept and report the key
};

struct probe_result {
  bool ok = false;
  std::vector<std::string> branches;  // sorted
  std::map<std::string, std::string> heads;  // branch -> commit id (40 hex)
  std::string default_branch;         // empty if the remote does not say
  std::string error;                  // when !ok: what the user reads; never holds the token
  std::string error_kind;  // authentication, not_found, timeout, certificate, host_key, other
  std::string host_key;       // ssh: "SHA256:..." of the server's host key, once seen
  std::string host_key_line;  // ssh: the ssh_known_hosts line that would pin it
};

probe_result probe_remote(const probe_request& request);

}  // namespace kiwi
