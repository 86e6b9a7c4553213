#include "common/scan/scan_summary.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace kiwi {
namespace {

std::size_t index_of(severity s) { return static_cast<std::size_t>(s); }

}  // namespace

bool worse(const scan_finding& a, const scan_finding& b) {
  if (rank(a.level) != rank(b.level)) {
    return rank(a.level) > rank(b.level);
  }
  if (a.fixed.empty() != b.fixed.empty()) {
    return !a.fixed.empty();
  }
  return a.id != b.id ? a.id < b.id : a.package < b.package;
}

scan_summary summarize(const trivy_report& report, std::size_t top_n) {
  scan_summary s;
  for (const scan_finding& f : report.findings) {
    ++s.total;
    ++s.counts[index_of(f.level)];
    if (!f.fixed.empty()) {
      ++s.fixable;
      ++s.fixable_counts[index_of(f.level)];
    }
  }
  s.top = report.findings;
  const std::size_t n = std::min(top_n, s.top.size());
  std::partial_sort(s.top.begin(), s.top.begin() + static_cast<std::ptrdiff_t>(n), s.top.end(),
                    worse);
  s.top.resize(n);
  return s;
}

std::string counts_text(const scan_summary& s) {
  std::string out;
  for (severity v : all_severities) {
    const unsigned n = s.counts[index_of(v)];
    if (n == 0) {
      continue;
    }
    if (!out.empty()) {
      out += ", ";
    }
    out += std::to_string(n) + " " + std::string(to_string(v));
    if (const unsigned fix = s.fixable_counts[index_of(v)]; fix > 0) {
      out += " (" + std::to_string(fix) + " fixable)";
    }
  }
  return out.empty() ? "no findings" : out;
}

nlohmann::json to_json(const scan_finding& f) {
  return {{"id", f.id},         {"package", f.package},
          {"installed", f.installed}, {"fixed", f.fixed},
          {"severity", std::string(to_string(f.level))}, {"title", f.title},
          {"target", f.target}};
}

nlohmann::json to_json(const scan_summary& s) {
  nlohmann::json counts = nlohmann::json::object();
  nlohmann::json fixable = nlohmann::json::object();
  for (severity v : all_severities) {
    counts[std::string(to_string(v))] = s.counts[index_of(v)];
    fixable[std::string(to_string(v))] = s.fixable_counts[index_of(v)];
  }
  nlohmann::json top = nlohmann::json::array();
  for (const scan_finding& f : s.top) {
    top.push_back(to_json(f));
  }
  return {{"total", s.total}, {"fixable", s.fixable}, {"counts", counts},
          {"fixable_counts", fixable}, {"top", top}};
}

}  // namespace kiwi
