#pragma once
// A Trivy JSON report (`trivy image --format json`, SchemaVersion 2) reduced to what Kiwi
// uses: every finding of every result (`Results[].Vulnerabilities[]`). A result without
// vulnerabilities, or a report without Results (a clean image), has no findings. Anything that
// is not such a report (not JSON, another shape, a finding without its id, package or
// severity) is an error naming what is wrong: a scanner that prints garbage never passes.

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kiwi {

// Trivy's severities, worst first; anything else it reports is read as unknown.
enum class severity { critical, high, medium, low, unknown };
inline constexpr severity all_severities[] = {severity::critical, severity::high, severity::medium,
                                              severity::low, severity::unknown};
std::string_view to_string(severity s);  // "CRITICAL", ...
// 4 for critical down to 0 for unknown: higher is worse.
int rank(severity s);

struct scan_finding {
  std::string id;         // VulnerabilityID: CVE-2019-18224, GHSA-...
  std::string package;    // PkgName
  std::string installed;  // InstalledVersion
  std::string fixed;      // FixedVersion; empty: no fix released
  severity level = severity::unknown;
  std::string title;      // may be empty
  std::string target;     // the result's Target (an OS, a lock file, a binary)
};

struct trivy_report {
  std::string artifact;  // ArtifactName
  std::vector<scan_finding> findings;  // in report order
};

struct report_error {
  std::string message;  // "not a Trivy report: ..."
};

using report_outcome = std::variant<trivy_report, report_error>;
report_outcome parse_trivy_report(std::string_view text);

// "CVE-2019-18224 in libidn2-0 2.0.5-1 (fixed in 2.0.5-1+deb10u1)" or "... (no fix yet)".
std::string describe(const scan_finding& f);

}  // namespace kiwi
