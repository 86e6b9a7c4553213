// The scan settings: a service's `scan` object (parsed and written back, errors naming the
// field) and the config file's `scan` section (the scanner).

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/config/config.hpp"
#include "common/config/resources.hpp"

using nlohmann::json;

namespace {

json service_with(const json& scan) {
  return {{"name", "shop"},
          {"git_url", "https://git.example.com/shop.git"},
          {"branch", "main"},
          {"webhook_secret", "0123456789abcdef"},
          {"scan", scan}};
}

std::string service_error(const json& scan) {
  try {
    kiwi::parse_service(service_with(scan), kiwi::parse_context{});
  } catch (const kiwi::field_error& e) {
    return e.field + ": " + e.what();
  }
  return "";
}

std::string config_error(const std::string& scan) {
  try {
    kiwi::parse_config(R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp/kiwi","scan":)" + scan +
                           "}",
                       "/tmp");
  } catch (const kiwi::config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("scan settings: defaults, and a full object read and written back the same") {
  const auto plain = kiwi::parse_service(service_with(json::object()), kiwi::parse_context{});
  CHECK(plain.scan.enabled);
  CHECK(plain.scan.fail_on == "CRITICAL");
  CHECK_FALSE(plain.scan.ignore_unfixed);
  const json scan = {{"enabled", true},
                     {"fail_on", "HIGH"},
                     {"ignore_unfixed", true},
                     {"ignore", {"CVE-2019-18276",
                                 {{"id", "CVE-2019-18224"}, {"expires", "2027-02-28"},
                                  {"reason", "base image update pending"}}}}};
  const auto s = kiwi::parse_service(service_with(scan), kiwi::parse_context{});
  REQUIRE(s.scan.ignore.size() == 2);
  CHECK(s.scan.ignore[0].id == "CVE-2019-18276");
  CHECK(s.scan.ignore[0].expires.empty());
  CHECK(s.scan.ignore[1].expires == "2027-02-28");
  const json written = kiwi::to_json(s)["scan"];
  CHECK(written["fail_on"] == "HIGH");
  CHECK(written["ignore"][1]["reason"] == "base image update pending");
  // What to_json writes parses to the same settings (the store keeps services this way).
  const auto again = kiwi::parse_service(service_with(written), kiwi::parse_context{});
  CHECK(kiwi::to_json(again)["scan"] == written);
}

TEST_CASE("scan settings: each mistake names its field") {
  CHECK(service_error("strict") .starts_with("scan: must be an object"));
  CHECK(service_error({{"fail_on", "critical"}}) ==
        "scan.fail_on: must be one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN (the lowest severity "
        "that fails the build) or NONE (report only)");
  CHECK(service_error({{"failon", "HIGH"}}) == "scan.failon: unknown key; see docs/configuration.md");
  CHECK(service_error({{"ignore", "CVE-1"}}).starts_with("scan.ignore: must be a list"));
  CHECK(service_error({{"ignore", {{{"id", "CVE-2019-18224"}, {"expires", "2027-02-30"}}}}}) ==
        "scan.ignore[0].expires: \"2027-02-30\" is not a date: write YYYY-MM-DD, e.g. 2027-01-31 "
        "(the entry holds through that day, UTC)");
  CHECK(service_error({{"ignore", {"CVE-1", {{"id", "CVE-2"}, {"expires", "31.01.2027"}}}}})
            .starts_with("scan.ignore[1].expires:"));
  CHECK(service_error({{"ignore", {"CVE-1", "two words"}}}).starts_with("scan.ignore[1]: must be "
                                                                        "a vulnerability id"));
  CHECK(service_error({{"ignore", {{{"expires", "2027-01-01"}}}}}).starts_with("scan.ignore[0].id"));
  CHECK(service_error({{"ignore", {{{"id", "CVE-1"}, {"until", "2027-01-01"}}}}}) ==
        "scan.ignore[0].until: unknown key; see docs/configuration.md");
  CHECK(service_error({{"ignore", {{{"id", "CVE-1"}, {"expires", "2028-02-29"}}}}}).empty());
}

TEST_CASE("scan settings: the config file's scanner section") {
  const auto defaults =
      kiwi::parse_config(R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp/kiwi"})", "/tmp");
  CHECK(defaults.scan.trivy_path.empty());
  CHECK(defaults.scan.timeout == std::chrono::seconds(300));
  CHECK(defaults.scan.max_report_bytes == 4u * 1024 * 1024);
  const auto c = kiwi::parse_config(
      R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp/kiwi","scan":{"trivy_path":"/opt/trivy",)"
      R"("image":"registry.local/trivy:0.58.1","timeout_s":60,"max_report_bytes":65536}})",
      "/tmp");
  CHECK(c.scan.trivy_path == "/opt/trivy");
  CHECK(c.scan.image == "registry.local/trivy:0.58.1");
  CHECK(c.scan.timeout == std::chrono::seconds(60));
  CHECK(c.scan.max_report_bytes == 65536);
  CHECK(config_error(R"({"trivy_path":"trivy"})").find("scan.trivy_path") != std::string::npos);
  CHECK(config_error(R"({"timeout_s":0})").find("scan.timeout_s") != std::string::npos);
  CHECK(config_error(R"({"scanner":"trivy"})").find("scan.scanner") != std::string::npos);
  CHECK(config_error(R"({"image":"a b"})").find("scan.image") != std::string::npos);
}
