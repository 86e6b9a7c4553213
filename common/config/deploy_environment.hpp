#pragma once
// A service's deploy environments (`deploy` in its settings, docs/deploy.md): parsing with the
// presets of development, staging and production, validation naming the field
// ("deploy[1].replicas"), and the JSON form. parse_service and to_json(service_config) use them;
// a deployment revision stores one environment's JSON form as the config it deployed.

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/config/resources.hpp"

namespace kiwi {

// Every environment of `deploy` (a JSON array). Names are unique; a missing field takes the
// preset of its name (docs/deploy.md#presets). Throws field_error naming "deploy[i].field".
std::vector<environment_config> parse_deploy(const nlohmann::json& j);

// One environment; `where` prefixes the field names in errors ("deploy[0]").
environment_config parse_environment(const nlohmann::json& j, const std::string& where);

// The complete JSON form (every field, presets filled). secret_env values are "***" unless
// include_secrets.
nlohmann::json to_json(const environment_config& e, bool include_secrets = false);

// The environment named `name` of a service, or null.
const environment_config* find_environment(const service_config& s, const std::string& name);

// Whether deploys to it need the deployer role (docs/deploy.md#who-may-deploy).
inline bool is_production(const environment_config& e) { return e.name == "production"; }

}  // namespace kiwi
