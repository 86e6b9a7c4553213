// The scan library on the recorded real Trivy reports (tests/fixtures/trivy): reading them,
// the summary, and the gate a service's scan settings set.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/scan/scan_gate.hpp"
#include "common/scan/scan_summary.hpp"
#include "common/scan/trivy_report.hpp"

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(KIWI_FIXTURES_DIR) / "trivy" / name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), {}};
}

kiwi::trivy_report report(const std::string& name) {
  auto parsed = kiwi::parse_trivy_report(fixture(name));
  REQUIRE(std::holds_alternative<kiwi::trivy_report>(parsed));
  return std::get<kiwi::trivy_report>(parsed);
}

std::string error_of(std::string_view text) {
  auto parsed = kiwi::parse_trivy_report(text);
  REQUIRE(std::holds_alternative<kiwi::report_error>(parsed));
  return std::get<kiwi::report_error>(parsed).message;
}

}  // namespace

TEST_CASE("scan: a real report's findings keep id, package, versions and severity") {
  const auto r = report("debian-buster.json");
  CHECK(r.artifact == "testdata/fixtures/images/debian-buster.tar.gz");
  REQUIRE(r.findings.size() == 2);
  CHECK(r.findings[0].id == "CVE-2019-18276");
  CHECK(r.findings[0].package == "bash");
  CHECK(r.findings[0].fixed.empty());
  CHECK(r.findings[0].level == kiwi::severity::low);
  CHECK(r.findings[1].id == "CVE-2019-18224");
  CHECK(r.findings[1].installed == "2.0.5-1");
  CHECK(r.findings[1].fixed == "2.0.5-1+deb10u1");
  CHECK(r.findings[1].level == kiwi::severity::critical);
  CHECK(r.findings[1].target == "testdata/fixtures/images/debian-buster.tar.gz (debian 10.1)");
}

TEST_CASE("scan: a report without Results is clean, findings across results are all read") {
  CHECK(report("alpine-39-skip-no-results.json").findings.empty());
  const auto r = report("alpine-distroless.json");
  REQUIRE(r.findings.size() == 2);
  CHECK(r.findings[1].target == "usr/bin/git-lfs");
  CHECK(r.findings[1].level == kiwi::severity::unknown);
  // A result without vulnerabilities has no findings.
  CHECK(report("alpine-39-skip-no-results.json").artifact.size() > 0);
  auto parsed = kiwi::parse_trivy_report(
      R"({"SchemaVersion":2,"Results":[{"Target":"x","Class":"os-pkgs"}]})");
  CHECK(std::get<kiwi::trivy_report>(parsed).findings.empty());
}

TEST_CASE("scan: what is not a Trivy report is an error, never a clean scan") {
  CHECK(error_of("").find("not JSON") != std::string::npos);
  CHECK(error_of("Segmentation fault (core dumped)").find("not JSON") != std::string::npos);
  CHECK(error_of("[]").find("SchemaVersion") != std::string::npos);
  CHECK(error_of(R"({"Results":[]})").find("SchemaVersion") != std::string::npos);
  CHECK(error_of(R"({"SchemaVersion":1})").find("not 2") != std::string::npos);
  CHECK(error_of(R"({"SchemaVersion":2,"Results":{}})").find("Results is not a list") !=
        std::string::npos);
  CHECK(error_of(R"({"SchemaVersion":2,"Results":[{"Vulnerabilities":[{"PkgName":"a"}]}]})") ==
        "not a Trivy report: Results[0].Vulnerabilities[0] lacks VulnerabilityID, PkgName or "
        "Severity");
  CHECK(error_of(R"({"SchemaVersion":2,"Results":[{"Vulnerabilities":[{"VulnerabilityID":1}]}]})")
            .find("wrong type") != std::string::npos);
  // A report cut short (a scanner killed mid-write) is not JSON.
  const std::string whole = fixture("debian-buster.json");
  CHECK(error_of(std::string_view(whole).substr(0, whole.size() / 2)).find("not JSON") !=
        std::string::npos);
}

TEST_CASE("scan: the summary counts per severity, fixable ones, and lists the worst first") {
  const auto s = kiwi::summarize(report("debian-buster.json"));
  CHECK(s.total == 2);
  CHECK(s.fixable == 1);
  CHECK(s.counts[0] == 1);  // CRITICAL
  CHECK(s.counts[3] == 1);  // LOW
  CHECK(s.fixable_counts[0] == 1);
  REQUIRE(s.top.size() == 2);
  CHECK(s.top[0].id == "CVE-2019-18224");
  CHECK(kiwi::counts_text(s) == "1 CRITICAL (1 fixable), 1 LOW");
  const auto j = kiwi::to_json(s);
  CHECK(j["counts"]["CRITICAL"] == 1);
  CHECK(j["fixable_counts"]["LOW"] == 0);
  CHECK(j["top"][0]["package"] == "libidn2-0");
  CHECK(kiwi::summarize(report("debian-buster.json"), 1).top.size() == 1);
  CHECK(kiwi::counts_text(kiwi::summarize(report("alpine-39-skip-no-results.json"))) ==
        "no findings");
}

TEST_CASE("scan: the default gate fails on a CRITICAL and names id, package and versions") {
  const kiwi::scan_config defaults;
  const auto v = kiwi::evaluate_gate(report("debian-buster.json"), defaults, "2026-12-07");
  CHECK_FALSE(v.passed);
  REQUIRE(v.failing.size() == 1);
  CHECK(v.message.find("CRITICAL CVE-2019-18224 in libidn2-0 2.0.5-1 (fixed in "
                       "2.0.5-1+deb10u1)") != std::string::npos);
  CHECK(v.message.find("bash") == std::string::npos);  // LOW is below the bar
  CHECK(kiwi::evaluate_gate(report("alpine-distroless.json"), defaults, "2026-12-07").passed);
  CHECK(kiwi::evaluate_gate(report("alpine-39-skip-no-results.json"), defaults, "2026-12-07")
            .passed);
}

TEST_CASE("scan: fail_on moves the bar; NONE only reports") {
  kiwi::scan_config c;
  c.fail_on = "MEDIUM";
  const auto medium = kiwi::evaluate_gate(report("alpine-distroless.json"), c, "2026-12-07");
  CHECK_FALSE(medium.passed);
  CHECK(medium.failing.size() == 1);  // git's MEDIUM; UNKNOWN is below
  c.fail_on = "UNKNOWN";
  CHECK(kiwi::evaluate_gate(report("alpine-distroless.json"), c, "2026-12-07").failing.size() ==
        2);
  c.fail_on = "LOW";
  const auto low = kiwi::evaluate_gate(report("debian-buster.json"), c, "2026-12-07");
  REQUIRE(low.failing.size() == 2);
  CHECK(low.failing[0].id == "CVE-2019-18224");  // worst first
  CHECK(low.message.find("CVE-2019-18276 in bash 5.0-4 (no fix yet)") != std::string::npos);
  c.fail_on = "NONE";
  const auto none = kiwi::evaluate_gate(report("debian-buster.json"), c, "2026-12-07");
  CHECK(none.passed);
  CHECK(none.message.find("report only") != std::string::npos);
}

TEST_CASE("scan: ignore entries hold until their day ends; ignore_unfixed lets unfixed through") {
  kiwi::scan_config c;
  c.ignore.push_back({"CVE-2019-18224", "2026-12-07", "waiting for the base image"});
  auto v = kiwi::evaluate_gate(report("debian-buster.json"), c, "2026-12-07");
  CHECK(v.passed);
  CHECK(v.ignored == std::vector<std::string>{"CVE-2019-18224"});
  CHECK(v.message.find("1 ignored by scan.ignore") != std::string::npos);
  // The day after: the entry is past its date, and the gate says so.
  v = kiwi::evaluate_gate(report("debian-buster.json"), c, "2026-12-08");
  CHECK_FALSE(v.passed);
  CHECK(v.message.find("CVE-2019-18224 (expired 2026-12-07)") != std::string::npos);
  // Without an expiry date: for good.
  c.ignore[0].expires.clear();
  CHECK(kiwi::evaluate_gate(report("debian-buster.json"), c, "2099-01-01").passed);

  kiwi::scan_config unfixed;
  unfixed.fail_on = "LOW";
  unfixed.ignore_unfixed = true;
  v = kiwi::evaluate_gate(report("debian-buster.json"), unfixed, "2026-12-07");
  REQUIRE(v.failing.size() == 1);  // the CRITICAL has a fix; bash's LOW has none
  CHECK(v.failing[0].package == "libidn2-0");
  CHECK(v.unfixed_let_through == 1);
}

TEST_CASE("scan: the build record's scan field carries summary and verdict") {
  const auto r = report("debian-buster.json");
  const auto v = kiwi::evaluate_gate(r, kiwi::scan_config{}, "2026-12-07");
  const auto j = kiwi::scan_record(r, kiwi::summarize(r), v);
  CHECK(j["status"] == "failed");
  CHECK(j["summary"]["total"] == 2);
  CHECK(j["gate"]["failing"][0]["fixed"] == "2.0.5-1+deb10u1");
  CHECK(j["gate"]["failing_total"] == 1);
  CHECK(j["message"].get<std::string>().starts_with("1 CRITICAL (1 fixable), 1 LOW; scan gate "
                                                    "failed"));
}
