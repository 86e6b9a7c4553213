#pragma once
// The gate a service's `scan` settings put on its image (docs/scan.md): it fails when a finding
// is at or above `fail_on` ("NONE": never), unless the finding has no fixed version and
// `ignore_unfixed` is set, or its id is on the ignore list and that entry has not expired
// (an entry with `expires` YYYY-MM-DD holds until that day ends, UTC; `today` is passed in so
// the gate stays a pure function). A failure names the worst findings: id, package, installed
// and fixed version.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/config/resources.hpp"
#include "common/scan/scan_summary.hpp"
#include "common/scan/trivy_report.hpp"

namespace kiwi {

struct gate_verdict {
  bool passed = true;
  std::string fail_on;
  std::vector<scan_finding> failing;  // worst first
  std::vector<std::string> ignored;   // ids the ignore list let through (each once)
  std::vector<std::string> expired;   // ignore entries past their date that matched a finding
  unsigned unfixed_let_through = 0;   // at or above fail_on, no fix, ignore_unfixed set
  std::string message;                // one line (plus the worst findings when failed)
};

gate_verdict evaluate_gate(const trivy_report& report, const scan_config& config,
                           std::string_view today);

// {"passed","fail_on","failing":[finding...] (the worst 20),"failing_total","ignored",
//  "expired_ignores","unfixed_let_through","message"}
nlohmann::json to_json(const gate_verdict& v);

// The build record's `scan` field: {"status": "passed"|"failed", "message", "artifact",
// "summary", "gate"}.
nlohmann::json scan_record(const trivy_report& report, const scan_summary& summary,
                           const gate_verdict& verdict);

}  // namespace kiwi
