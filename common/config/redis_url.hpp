#pragma once
// Where Redis is and how Kiwi logs in to it: the `redis` URL (unix://, redis://, rediss://,
// with an optional user and password), `redis_password_file` and `redis_tls`
// (docs/configuration.md, docs/security.md). The password is never part of describe().

#include <filesystem>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/config/config.hpp"

namespace kiwi {

// Reads `redis`, `redis_password_file` and `redis_tls` of the config's root object; throws
// field_error naming the key (never quoting the URL, which may hold a password).
redis_endpoint redis_endpoint_from_config(const nlohmann::json& root,
                                          const std::filesystem::path& base_dir);

// "%41" → "A"; nullopt-like empty optional on a malformed escape.
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace kiwi
