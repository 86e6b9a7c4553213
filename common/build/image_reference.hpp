#pragma once
// Where an image goes: a registry's configured URL (harbor.company.com, docker.io,
// https://127.0.0.1:5000) becomes the host part of an image reference
// (harbor.company.com/team/app:tag).

#include <string>
#include <string_view>

namespace kiwi {

// host[:port] for a registry URL: scheme and trailing slashes removed, lower-cased. Docker
// Hub's other names (index.docker.io, registry-1.docker.io, registry.hub.docker.com) become
// docker.io, the name container tools and credential files use.
std::string registry_host(std::string_view registry_url);

// Whether the URL asks for plain http (http://...): such a registry is used without TLS.
bool registry_plain_http(std::string_view registry_url);

// registry_host(url) + "/" + image + ":" + tag, e.g. "docker.io/team/app:main-1a2b3c4".
std::string image_reference(std::string_view registry_url, std::string_view image,
                            std::string_view tag);

// The registry host of a reference as written in a Dockerfile's FROM: the first path component
// when it looks like a host (has '.' or ':' or is "localhost"), else docker.io.
std::string reference_host(std::string_view reference);

}  // namespace kiwi
