// docs/openapi.json and the routes kiwid serves are the same set: every documented route is
// served and every served route is documented, with the role it needs. The document is
// written from the route table (daemon/api/openapi.hpp); the openapi_generated test checks
// that the committed file is what kiwid writes, openapi_lint that it lints clean.

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "daemon/api.hpp"
#include "daemon/api/openapi.hpp"
#include "daemon/api/routes.hpp"

namespace {

nlohmann::json committed_document() {
  std::ifstream in(KIWI_FIXTURES_DIR "/../../docs/openapi.json");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST_CASE("the OpenAPI document lists exactly the routes kiwid serves") {
  auto doc = committed_document();
  CHECK(doc["openapi"] == "3.0.3");
  std::set<std::pair<std::string, std::string>> documented;
  std::map<std::pair<std::string, std::string>, std::string> documented_role;
  for (const auto& [path, ops] : doc["paths"].items()) {
    for (const auto& [method, op] : ops.items()) {
      documented.emplace(upper(method), path);
      CHECK_MESSAGE(op.contains("x-kiwi-role"), path);
      documented_role[{upper(method), path}] = op.value("x-kiwi-role", "");
    }
  }
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& r : kiwi::api_route_list()) {
    served.insert(r);
  }
  for (const auto& r : served) {
    CHECK_MESSAGE(documented.contains(r), "served but not documented: " << r.first << " " << r.second);
  }
  for (const auto& r : documented) {
    CHECK_MESSAGE(served.contains(r), "documented but not served: " << r.first << " " << r.second);
  }
  CHECK(served.size() >= 30);
  // The role the document names is the one the route table checks.
  for (const auto& route : kiwi::api_routes()) {
    const std::pair<std::string, std::string> key{std::string(route.method),
                                                  "/api/v1" + std::string(route.path)};
    CHECK_MESSAGE(documented_role[key] == kiwi::to_string(route.role), key.second);
  }
}

TEST_CASE("every operation has a unique operationId and every 2xx body a schema") {
  const auto doc = kiwi::openapi_json();  // throws on a name schemas.json lacks
  std::set<std::string> ids;
  for (const auto& [path, ops] : doc["paths"].items()) {
    for (const auto& [method, op] : ops.items()) {
      const std::string id = op.value("operationId", "");
      CHECK_MESSAGE(!id.empty(), method << " " << path);
      CHECK_MESSAGE(ids.insert(id).second, "operationId used twice: " << id);
      for (const auto& [status, answer] : op["responses"].items()) {
        if (!status.starts_with("2")) {
          continue;
        }
        REQUIRE_MESSAGE(answer.contains("content"), method << " " << path << " " << status);
        for (const auto& [media, body] : answer["content"].items()) {
          CHECK_MESSAGE(body.contains("schema"), method << " " << path << " " << media);
        }
      }
    }
  }
  CHECK(doc["info"].contains("license"));
}
