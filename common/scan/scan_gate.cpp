#include "common/scan/scan_gate.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace kiwi {
namespace {

constexpr std::size_t named_in_message = 5;
constexpr std::size_t stored_failing = 20;

// The threshold's rank, or -1 for NONE (nothing fails).
int threshold(const std::string& fail_on) {
  for (severity v : all_severities) {
    if (fail_on == to_string(v)) {
      return rank(v);
    }
  }
  return -1;
}

void add_once(std::vector<std::string>& list, const std::string& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) {
    list.push_back(value);
  }
}

}  // namespace

gate_verdict evaluate_gate(const trivy_report& report, const scan_config& config,
                           std::string_view today) {
  gate_verdict v;
  v.fail_on = config.fail_on;
  const int bar = threshold(config.fail_on);
  for (const scan_finding& f : report.findings) {
    if (bar < 0 || rank(f.level) < bar) {
      continue;
    }
    const auto entry = std::find_if(config.ignore.begin(), config.ignore.end(),
                                    [&](const scan_ignore& i) { return i.id == f.id; });
    if (entry != config.ignore.end()) {
      // YYYY-MM-DD compares as text; the entry holds through its last day.
      if (entry->expires.empty() || today <= entry->expires) {
        add_once(v.ignored, f.id);
        continue;
      }
      add_once(v.expired, f.id + " (expired " + entry->expires + ")");
    }
    if (f.fixed.empty() && config.ignore_unfixed) {
      ++v.unfixed_let_through;
      continue;
    }
    v.failing.push_back(f);
  }
  std::sort(v.failing.begin(), v.failing.end(), worse);
  v.passed = v.failing.empty();
  if (v.passed) {
    v.message = bar < 0 ? "scan gate off (fail_on NONE): report only"
                        : "scan gate passed: no finding at or above " + config.fail_on;
  } else {
    v.message = "scan gate failed: " + std::to_string(v.failing.size()) + " finding" +
                (v.failing.size() == 1 ? "" : "s") + " at or above " + config.fail_on + ":";
    for (std::size_t i = 0; i < std::min(named_in_message, v.failing.size()); ++i) {
      const scan_finding& f = v.failing[i];
      v.message += "\n  " + std::string(to_string(f.level)) + " " + describe(f);
    }
    if (v.failing.size() > named_in_message) {
      v.message += "\n  and " + std::to_string(v.failing.size() - named_in_message) + " more";
    }
    v.message += "\nfix them (upgrade the packages or the base image), or list an id in the "
                 "service's scan.ignore with a reason and an expiry date";
  }
  if (!v.ignored.empty()) {
    v.message += (v.passed ? "; " : "\n") + std::to_string(v.ignored.size()) +
                 " ignored by scan.ignore";
  }
  if (!v.expired.empty()) {
    std::string list;
    for (const auto& e : v.expired) {
      list += (list.empty() ? "" : ", ") + e;
    }
    v.message += (v.passed ? "; " : "\n") + std::string("ignore entries past their date: ") + list;
  }
  if (v.unfixed_let_through > 0) {
    v.message += (v.passed ? "; " : "\n") + std::to_string(v.unfixed_let_through) +
                 " without a fix let through (scan.ignore_unfixed)";
  }
  return v;
}

nlohmann::json to_json(const gate_verdict& v) {
  nlohmann::json failing = nlohmann::json::array();
  for (std::size_t i = 0; i < std::min(stored_failing, v.failing.size()); ++i) {
    failing.push_back(to_json(v.failing[i]));
  }
  return {{"passed", v.passed},
          {"fail_on", v.fail_on},
          {"failing", failing},
          {"failing_total", v.failing.size()},
          {"ignored", v.ignored},
          {"expired_ignores", v.expired},
          {"unfixed_let_through", v.unfixed_let_through},
          {"message", v.message}};
}

nlohmann::json scan_record(const trivy_report& report, const scan_summary& summary,
                           const gate_verdict& verdict) {
  return {{"status", verdict.passed ? "passed" : "failed"},
          {"message", counts_text(summary) + "; " + verdict.message},
          {"artifact", report.artifact},
          {"summary", to_json(summary)},
          {"gate", to_json(verdict)}};
}

}  // namespace kiwi
