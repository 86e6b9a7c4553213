// docs/openapi.json and the routes kiwid serves are the same set: every documented route is
// served and every served route is documented.

#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "daemon/api.hpp"
#include "daemon/openapi_document.hpp"

TEST_CASE("the OpenAPI document lists exactly the routes kiwid serves") {
  auto doc = nlohmann::json::parse(kiwi::openapi_document);
  CHECK(doc["openapi"] == "3.0.3");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, ops] : doc["paths"].items()) {
    for (const auto& [method, op] : ops.items()) {
      std::string upper = method;
      for (auto& c : upper) c = static_cast<char>(std::toupper(c));
      documented.emplace(upper, path);
      CHECK_MESSAGE(op.contains("x-kiwi-role"), path);
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
}
