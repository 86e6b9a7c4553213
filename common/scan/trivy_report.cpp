#include "common/scan/trivy_report.hpp"

#include <nlohmann/json.hpp>

namespace kiwi {
namespace {

using json = nlohmann::json;

severity severity_of(const std::string& s) {
  for (severity v : all_severities) {
    if (s == to_string(v)) {
      return v;
    }
  }
  return severity::unknown;
}

// A string member, empty when absent or null; another type is an error.
bool text_member(const json& obj, const char* key, std::string& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    out.clear();
    return true;
  }
  if (!it->is_string()) {
    return false;
  }
  out = it->get<std::string>();
  return true;
}

}  // namespace

std::string_view to_string(severity s) {
  switch (s) {
    case severity::critical: return "CRITICAL";
    case severity::high: return "HIGH";
    case severity::medium: return "MEDIUM";
    case severity::low: return "LOW";
    case severity::unknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

int rank(severity s) {
  switch (s) {
    case severity::critical: return 4;
    case severity::high: return 3;
    case severity::medium: return 2;
    case severity::low: return 1;
    case severity::unknown: return 0;
  }
  return 0;
}

report_outcome parse_trivy_report(std::string_view text) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) {
    return report_error{"not a Trivy report: the scanner's output is not JSON"};
  }
  if (!doc.is_object() || !doc.contains("SchemaVersion")) {
    return report_error{"not a Trivy report: expected a JSON object with SchemaVersion "
                        "(trivy image --format json)"};
  }
  if (!doc["SchemaVersion"].is_number_integer() || doc["SchemaVersion"].get<long long>() != 2) {
    return report_error{"not a Trivy report Kiwi reads: SchemaVersion is not 2"};
  }
  trivy_report out;
  if (!text_member(doc, "ArtifactName", out.artifact)) {
    return report_error{"not a Trivy report: ArtifactName is not a string"};
  }
  const auto results = doc.find("Results");
  if (results == doc.end() || results->is_null()) {
    return out;  // a clean image: Trivy leaves Results out
  }
  if (!results->is_array()) {
    return report_error{"not a Trivy report: Results is not a list"};
  }
  for (std::size_t r = 0; r < results->size(); ++r) {
    const json& result = (*results)[r];
    const std::string where = "Results[" + std::to_string(r) + "]";
    if (!result.is_object()) {
      return report_error{"not a Trivy report: " + where + " is not an object"};
    }
    std::string target;
    if (!text_member(result, "Target", target)) {
      return report_error{"not a Trivy report: " + where + ".Target is not a string"};
    }
    const auto vulns = result.find("Vulnerabilities");
    if (vulns == result.end() || vulns->is_null()) {
      continue;
    }
    if (!vulns->is_array()) {
      return report_error{"not a Trivy report: " + where + ".Vulnerabilities is not a list"};
    }
    for (std::size_t i = 0; i < vulns->size(); ++i) {
      const json& v = (*vulns)[i];
      const std::string at = where + ".Vulnerabilities[" + std::to_string(i) + "]";
      scan_finding f;
      std::string level;
      if (!v.is_object() || !text_member(v, "VulnerabilityID", f.id) ||
          !text_member(v, "PkgName", f.package) ||
          !text_member(v, "InstalledVersion", f.installed) ||
          !text_member(v, "FixedVersion", f.fixed) || !text_member(v, "Severity", level) ||
          !text_member(v, "Title", f.title)) {
        return report_error{"not a Trivy report: " + at + " has a field of the wrong type"};
      }
      if (f.id.empty() || f.package.empty() || level.empty()) {
        return report_error{"not a Trivy report: " + at +
                            " lacks VulnerabilityID, PkgName or Severity"};
      }
      f.level = severity_of(level);
      f.target = target;
      out.findings.push_back(std::move(f));
    }
  }
  return out;
}

std::string describe(const scan_finding& f) {
  std::string s = f.id + " in " + f.package + " " + f.installed;
  s += f.fixed.empty() ? " (no fix yet)" : " (fixed in " + f.fixed + ")";
  return s;
}

}  // namespace kiwi
