#include "worker/buildah_session.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "common/build/image_reference.hpp"
#include "common/security/crypto.hpp"  // base64_encode

namespace kiwi {

namespace fs = std::filesystem;

private_dir::private_dir(const fs::path& parent) {
  fs::create_directories(parent);
  std::string name = (parent / "kiwi-buildah-XXXXXX").string();
  if (::mkdtemp(name.data()) == nullptr) {  // mode 0700
    throw std::runtime_error("cannot create a private directory in " + parent.string() + ": " +
                             std::strerror(errno));
  }
  path_ = name;
}

private_dir::~private_dir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void create_private_file(const fs::path& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(saved));
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

std::string read_trimmed(const fs::path& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  std::string text(limit, '\0');
  in.read(text.data(), static_cast<std::streamsize>(limit));
  text.resize(static_cast<std::size_t>(in.gcount()));
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.pop_back();
  }
  return text;
}

std::string auth_file_json(const std::optional<registry_credentials>& registry) {
  nlohmann::json auths = nlohmann::json::object();
  if (registry && !registry->username.empty()) {
    auths[registry_host(registry->url)] = {
        {"auth", base64_encode(registry->username + ":" + registry->password)}};
  }
  return nlohmann::json{{"auths", auths}}.dump();
}

bool registry_is_insecure(const registry_credentials& registry) {
  return registry.insecure || registry_plain_http(registry.url);
}

std::string registries_conf(const std::optional<registry_credentials>& registry) {
  std::string conf =
      "unqualified-search-registries = [\"docker.io\"]\n"
      "short-name-mode = \"permissive\"\n";
  if (registry && registry_is_insecure(*registry)) {
    const std::string host = registry_host(registry->url);
    if (host.find_first_of("\"\\\n") == std::string::npos) {
      conf += "\n[[registry]]\nlocation = \"" + host + "\"\ninsecure = true\n";
    }
  }
  return conf;
}

}  // namespace kiwi
