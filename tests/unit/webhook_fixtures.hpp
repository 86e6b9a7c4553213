#pragma once
// What the webhook unit tests share: the real payloads in tests/fixtures, a service to deliver
// to, and the reason or error of an answer.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/config/config.hpp"
#include "daemon/webhook/intake_decision.hpp"

namespace kiwi::test {

inline std::string read_fixture(const std::string& relative) {
  std::ifstream in(std::string(KIWI_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open fixture " << relative);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline const std::string webhook_secret = "it-is-a-webhook-secret";

inline service_config webhook_service(std::string branch = "master") {
  service_config s;
  s.name = "user-api";
  s.git_url = "https://github.com/Codertocat/Hello-World.git";
  s.branch = std::move(branch);
  s.webhook_secret = webhook_secret;
  return s;
}

// The "reason" of an ignored delivery, or the "error" of a rejected one.
inline std::string reason(const webhook::intake_decision& d) {
  auto j = nlohmann::json::parse(d.body);
  return j.contains("reason") ? j["reason"].get<std::string>() : j["error"].get<std::string>();
}

}  // namespace kiwi::test
