#pragma once
// What a scan found, in numbers: findings per severity, how many of them have a fixed version,
// and the worst few (worst severity first; among equals, those with a fix first). Stored with
// the build (its `scan` field) and carried by the scan stage's event.

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/scan/trivy_report.hpp"

namespace kiwi {

struct scan_summary {
  unsigned total = 0;
  unsigned fixable = 0;
  std::array<unsigned, 5> counts{};          // indexed like all_severities
  std::array<unsigned, 5> fixable_counts{};  // of those, with a FixedVersion
  std::vector<scan_finding> top;             // the worst, at most top_n
};

scan_summary summarize(const trivy_report& report, std::size_t top_n = 10);

// Worst first: severity, then a fix available, then id (a stable order for messages).
bool worse(const scan_finding& a, const scan_finding& b);

// "1 CRITICAL (1 fixable), 1 LOW": the non-zero counts; "no findings" when there are none.
std::string counts_text(const scan_summary& s);

// {"total","fixable","counts":{"CRITICAL":n,...},"fixable_counts":{...},"top":[finding...]}
nlohmann::json to_json(const scan_summary& s);
// {"id","package","installed","fixed","severity","title","target"}
nlohmann::json to_json(const scan_finding& f);

}  // namespace kiwi
