#include "common/build/image_reference.hpp"

#include <algorithm>
#include <cctype>

namespace kiwi {

std::string registry_host(std::string_view url) {
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
  }
  while (!url.empty() && url.back() == '/') {
    url.remove_suffix(1);
  }
  std::string host(url);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host == "index.docker.io" || host == "registry-1.docker.io" ||
      host == "registry.hub.docker.com") {
    host = "docker.io";
  }
  return host;
}

bool registry_plain_http(std::string_view url) {
  return url.size() >= 7 && std::equal(url.begin(), url.begin() + 7, "http://", [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

std::string image_reference(std::string_view registry_url, std::string_view image,
                            std::string_view tag) {
  while (!image.empty() && image.front() == '/') {
    image.remove_prefix(1);
  }
  return registry_host(registry_url) + "/" + std::string(image) + ":" + std::string(tag);
}

std::string reference_host(std::string_view reference) {
  const auto slash = reference.find('/');
  if (slash == std::string_view::npos) {
    return "docker.io";
  }
  std::string_view first = reference.substr(0, slash);
  if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
      first == "localhost") {
    return registry_host(first);
  }
  return "docker.io";
}

}  // namespace kiwi
