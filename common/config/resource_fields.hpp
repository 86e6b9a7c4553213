#pragma once
// Field checks shared by the resource parsers (resources.cpp, runtime_resource.cpp). Internal
// to the config library; each throws field_error naming the field.

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/config/resources.hpp"  // parse_context

namespace kiwi::resource_fields {

inline bool has_scheme(std::string_view url, std::string_view scheme) {
  return url.starts_with(scheme);
}

// A Kubernetes resource quantity such as 500m, 2, 1.5, 512Mi, 4Gi.
bool is_quantity(std::string_view q);

// No URL carries a credential: "https://TOKEN@host/..." would be shown to every viewer and
// sent wherever the URL leads. ssh:// may name the user to log in as (ssh://git@host/...),
// never a password. The message never repeats the userinfo.
void refuse_userinfo(const std::string& url, const char* field, const char* where_secret_goes,
                     bool user_allowed = false);

// A secret given inline ("token") or in a file ("token_file"): at most one of the two; files
// only where the context allows them (the config file).
std::string secret_field(const nlohmann::json& j, const char* key, const char* file_key,
                         const parse_context& ctx);

}  // namespace kiwi::resource_fields
