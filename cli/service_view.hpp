#pragma once
// How kiwictl prints a service, a connection test and a Dockerfile preview (text output).

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "cli/api_client.hpp"

namespace kiwi::cli {

void print_service(const nlohmann::json& s);
// The connection test's answer: the branches, the configured one marked. 0 when it passed.
int print_connection_test(const api_reply& r, const std::string& branch);
// The preview's facts, then the Dockerfile (and the wizard's .dockerignore) as they are.
void print_dockerfile_preview(const nlohmann::json& p);

}  // namespace kiwi::cli
