#include "cli/output.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <ostream>

#include <nlohmann/json.hpp>

namespace kiwi::cli {

using json = nlohmann::json;

void print_table(std::ostream& out, const table_row& headers, const std::vector<table_row>& rows) {
  std::vector<std::size_t> width(headers.size(), 0);
  auto measure = [&](const table_row& r) {
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  };
  measure(headers);
  for (const auto& r : rows) {
    measure(r);
  }
  auto print = [&](const table_row& r) {
    std::string line;
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) {
        line += std::string(width[i] - r[i].size() + 2, ' ');
      }
    }
    out << line << '\n';
  };
  print(headers);
  for (const auto& r : rows) {
    print(r);
  }
}

void print_fields(std::ostream& out,
                  const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (const auto& [k, v] : fields) {
    width = std::max(width, k.size());
  }
  for (const auto& [k, v] : fields) {
    out << k << ':' << std::string(width - k.size() + 2, ' ') << v << '\n';
  }
}

std::string text_of(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) {
    return {};
  }
  const json& v = object[key];
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_null()) {
    return {};
  }
  return v.dump();
}

std::string format_unix_ms(const std::string& ms) {
  if (ms.empty() || ms.find_first_not_of("0123456789") != std::string::npos) {
    return ms;
  }
  const std::time_t seconds = static_cast<std::time_t>(std::stoll(ms) / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string format_duration(const std::string& from_ms, const std::string& to_ms) {
  auto number = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (!number(from_ms) || !number(to_ms)) {
    return {};
  }
  return format_millis(std::max(0LL, std::stoll(to_ms) - std::stoll(from_ms)));
}

std::string format_millis(long long ms) {
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", ms);
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", ms / 60'000, (ms / 1000) % 60);
  }
  return buf;
}

std::string event_line(const json& event) {
  std::string ts = text_of(event, "ts");
  // 2026-11-28T16:08:34.123Z: the time of day (UTC) is enough on a live log.
  if (ts.size() >= 23 && ts[10] == 'T') {
    ts = ts.substr(11, 12);
  }
  const std::string type = text_of(event, "type");
  std::string stage = text_of(event, "stage");
  if (stage.empty() || type.starts_with("build.")) {
    stage = "build";
  }
  std::string status = type == "stage.log" ? "log" : text_of(event, "status");
  if (status.empty()) {
    status = type;
  }
  char head[96];
  std::snprintf(head, sizeof head, "%-12s  %-8s  %-10s", ts.c_str(), stage.c_str(),
                status.c_str());
  std::string line = head;
  const std::string message = text_of(event, "message");
  if (!message.empty()) {
    line += "  " + message;
  }
  return line;
}

}  // namespace kiwi::cli
