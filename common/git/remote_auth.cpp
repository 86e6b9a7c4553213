#include "common/git/git.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <system_error>

#include "common/git/ssh_known_hosts.hpp"
#include "common/security/crypto.hpp"
#include "common/security/url_authority.hpp"

namespace kiwi::git {
namespace {

// The port of an ssh:// URL (22 when absent, and for scp-like user@host:path).
int ssh_port(std::string_view url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) {
    return 22;
  }
  std::string_view authority = url.substr(scheme + 3);
  authority = authority.substr(0, authority.find('/'));
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (authority.starts_with('[')) {  // [v6 address]:port
    const std::size_t close = authority.find(']');
    authority.remove_prefix(close == std::string_view::npos ? authority.size() : close + 1);
  }
  const std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == authority.size()) {
    return 22;
  }
  int port = 0;
  for (char c : authority.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) {
      return 22;
    }
    port = port * 10 + (c - '0');
  }
  return port;
}

// Writes text to a new 0600 file in a new 0700 directory under the temp dir; returns its path.
std::filesystem::path write_private_file(const std::string& text) {
  std::string dir = (std::filesystem::temp_directory_path() / "kiwi-ssh-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {  // mkdtemp makes it 0700
    throw std::system_error(errno, std::generic_category(), "cannot create a private directory");
  }
  const std::filesystem::path file = std::filesystem::path(dir) / "key";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    const int err = errno;
    ::rmdir(dir.c_str());
    throw std::system_error(err, std::generic_category(), "cannot create the key file");
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(file.c_str());
      ::rmdir(dir.c_str());
      throw std::system_error(err, std::generic_category(), "cannot write the key file");
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return file;
}

std::string replace_all(std::string text, const std::string& secret) {
  if (secret.empty()) {
    return text;
  }
  constexpr std::string_view mask = "***";
  for (auto at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + mask.size())) {
    text.replace(at, secret.size(), mask);
  }
  return text;
}

}  // namespace

remote_auth::remote_auth(settings s) : settings_(std::move(s)) {
  // libssh2 reads the key line by line: the END line needs its newline, which a key read from
  // a file or typed into a form may have lost.
  if (!settings_.ssh_key.empty() && settings_.ssh_key.back() != '\n') {
    settings_.ssh_key.push_back('\n');
  }
}

remote_auth::~remote_auth() { remove_key_file(); }

void remote_auth::remove_key_file() noexcept {
  if (key_file_.empty()) {
    return;
  }
  std::error_code ignored;
  std::filesystem::remove(key_file_, ignored);
  std::filesystem::remove(key_file_.parent_path(), ignored);
}

int remote_auth::credentials(git_credential** out, const char* url,
                             const char* username_from_url, unsigned int allowed) {
  if (int stop = transfer_scope::checkpoint(); stop != 0) {
    return stop;
  }
  const bool from_url = username_from_url != nullptr && *username_from_url != '\0';
  // ssh without a user in the URL: libgit2 asks for the name before the methods.
  if ((allowed & GIT_CREDENTIAL_USERNAME) != 0) {
    return git_credential_username_new(out, from_url ? username_from_url : "git");
  }
  if (url != nullptr && !same_endpoint(url, settings_.url)) {
    return transfer_scope::give_up(error_kind::denied, redirect_refused_message(url));
  }
  constexpr unsigned int ssh_key_types = GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_SSH_MEMORY;
  if ((allowed & ssh_key_types) != 0 || !settings_.ssh_key.empty()) {
    if (settings_.ssh_key.empty()) {
      return transfer_scope::give_up(error_kind::authentication,
                                     std::string(ssh_key_missing_message));
    }
    if ((allowed & ssh_key_types) == 0) {
      return transfer_scope::give_up(
          error_kind::authentication,
          "Authentication failed: the git server does not accept SSH keys (publickey) here");
    }
    return ssh_key_credential(out, from_url ? username_from_url : "git", allowed);
  }
  if (settings_.token.empty() || (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0) {
    return GIT_PASSTHROUGH;
  }
  // libgit2 asks again after the server rejected the credential: one rejection is final.
  if (++token_requests_ > 1) {
    return transfer_scope::give_up(error_kind::authentication);
  }
  return git_credential_userpass_plaintext_new(out, settings_.username.c_str(),
                                               settings_.token.c_str());
}

int remote_auth::ssh_key_credential(git_credential** out, const char* user,
                                    unsigned int allowed) {
  if (++key_requests_ > 1) {
    return transfer_scope::give_up(error_kind::authentication,
                                   std::string(ssh_key_rejected_message));
  }
  // The public half is stored in clear inside the key file; handing it over spares libssh2
  // deriving it (which its OpenSSL backend cannot do for every key type).
  const std::string public_key = ssh::public_key_of(settings_.ssh_key);
  const char* public_or_null = public_key.empty() ? nullptr : public_key.c_str();
  if (settings_.ssh_key_in_memory && (allowed & GIT_CREDENTIAL_SSH_MEMORY) != 0) {
    if (git_credential_ssh_key_memory_new(out, user, public_or_null, settings_.ssh_key.c_str(),
                                          nullptr) == 0) {
      return 0;
    }
    git_error_clear();  // libgit2 built without memory keys: use a file instead
  }
  remove_key_file();
  key_file_.clear();
  try {
    key_file_ = write_private_file(settings_.ssh_key);
  } catch (const std::system_error& e) {
    return transfer_scope::give_up(error_kind::other,
                                   std::string("cannot hand the SSH key to libssh2: ") + e.what());
  }
  // libssh2 reads the public key from a file too; without one it derives it.
  return git_credential_ssh_key_new(out, user, nullptr, key_file_.c_str(), nullptr);
}

int remote_auth::certificate_check(git_cert* cert, int /*valid*/, const char* host) {
  if (int stop = transfer_scope::checkpoint(); stop != 0) {
    return stop;
  }
  if (cert == nullptr || cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) {
    return GIT_PASSTHROUGH;  // TLS: libgit2's own verification decides
  }
  // libgit2 1.5.1 also looks the host up in the worker's ~/.ssh/known_hosts (`valid`); Kiwi's
  // policy is the service's ssh_known_hosts alone.
  const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
  const std::string label =
      ssh::host_label(host != nullptr ? host : "", ssh_port(settings_.url));
  std::string digest;
  if ((hostkey->type & GIT_CERT_SSH_RAW) != 0 && hostkey->hostkey != nullptr &&
      hostkey->hostkey_len > 0) {
    const std::string_view blob(hostkey->hostkey, hostkey->hostkey_len);
    digest = sha256(blob);
    host_key_line_ = ssh::known_hosts_line(label, blob);
  } else if ((hostkey->type & GIT_CERT_SSH_SHA256) != 0) {
    digest.assign(reinterpret_cast<const char*>(hostkey->hash_sha256),
                  sizeof(hostkey->hash_sha256));
  } else {
    return transfer_scope::give_up(error_kind::host_key,
                                   std::string(host_key_message_prefix) + ": " + label +
                                       " sent no SHA-256 of its host key to compare");
  }
  host_key_ = ssh::fingerprint(digest);
  if (settings_.ssh_known_hosts.empty() ||
      ssh::known_hosts_match(settings_.ssh_known_hosts, host != nullptr ? host : "",
                             ssh_port(settings_.url), digest)) {
    return 0;
  }
  return transfer_scope::give_up(error_kind::host_key,
                                 std::string(host_key_message_prefix) + ": " + label +
                                     " presented " + host_key_ +
                                     ", which is not in ssh_known_hosts");
}

std::string remote_auth::scrub(std::string text) const {
  std::string key = settings_.ssh_key;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
    key.pop_back();
  }
  return replace_all(replace_all(std::move(text), settings_.token), key);
}

}  // namespace kiwi::git
