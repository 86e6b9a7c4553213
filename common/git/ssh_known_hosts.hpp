#pragma once
// Pinning a git server's SSH host key: a service's ssh_known_hosts lines (OpenSSH's known_hosts
// format, as ssh-keyscan prints them) checked against the key the server presents, and the
// SHA256 fingerprints users compare with the ones their git host publishes (ssh-keygen -lf).

#include <string>
#include <string_view>

namespace kiwi::ssh {

// Empty when text is usable as ssh_known_hosts, else what is wrong, naming the line. Accepted:
// "hosts keytype base64-key [comment]" lines, blank lines and # comments, where hosts is a
// comma-separated list of names or [name]:port with * and ? wildcards and !negations, or one
// hashed |1|salt|hash entry (ssh-keyscan -H). @cert-authority and @revoked lines are refused.
std::string check_known_hosts(std::string_view text);

// How known_hosts names an endpoint: "host" on port 22, else "[host]:port".
std::string host_label(std::string_view host, int port);

// Whether some line of text names host:port with the key whose SHA-256 digest (32 raw bytes)
// is key_sha256. A line names the host when one of its patterns matches and none of its
// negations does, as in OpenSSH.
bool known_hosts_match(std::string_view text, std::string_view host, int port,
                       std::string_view key_sha256);

// "SHA256:<base64 without padding>" of a 32-byte digest, as ssh-keygen -l prints it.
std::string fingerprint(std::string_view key_sha256);

// The known_hosts line that pins a raw public key blob (SSH wire format) for label:
// "[host]:port ssh-ed25519 AAAA...". Empty if the blob is malformed.
std::string known_hosts_line(std::string_view label, std::string_view key_blob);

// The public key ("ssh-ed25519 AAAA...", the .pub file's form) stored unencrypted inside an
// OpenSSH private key file; empty if text is not one.
std::string public_key_of(std::string_view openssh_private_key);

}  // namespace kiwi::ssh
